"""One test module per behaviour. The other modules here (conftest.py, factories.py, urls.py, …)
build what tests need and hold no tests; no test module imports another."""

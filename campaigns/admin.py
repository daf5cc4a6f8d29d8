from django.contrib import admin

from campaigns.models import Campaign, CampaignStep


class CampaignStepInline(admin.TabularInline):
    model = CampaignStep
    extra = 0
    ordering = ["position"]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "status", "daily_limit", "created_at"]
    list_filter = ["status", "workspace"]
    search_fields = ["name"]
    # Status moves only through campaigns.transitions, never by editing the row.
    readonly_fields = ["status", "created_at", "updated_at"]
    filter_horizontal = ["sender_accounts"]
    inlines = [CampaignStepInline]
    list_select_related = ["workspace"]

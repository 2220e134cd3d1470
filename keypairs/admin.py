"""Admin of key pairs: API rows, conflicts, recorded deletions, and the legacy rows per cell (read-only)."""

from django.contrib import admin, messages

from cellsv2.admin import (
    CellModelAdmin,
    LargeTableAdminMixin,
    ReadOnlyAdmin,
    SoftDeleteFilter,
    id_column,
    register_cell_admin,
    soft_delete_state,
)
from keypairs import services
from keypairs.exceptions import ConflictNotFound, ConflictUnresolvable, KeypairNotFound
from keypairs.models import KeyPair, KeyPairConflict, KeyPairDeletion, LegacyKeyPair


@admin.register(KeyPair)
class KeyPairAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ("name", id_column("user_id", "user"), "type", "fingerprint", "created_at")
    list_filter = ("type",)
    search_fields = ("=user_id", "name", "=fingerprint")
    readonly_fields = ("name", "user_id", "type", "fingerprint", "public_key", "created_at", "updated_at")

    def has_add_permission(self, request):
        # Keys are created through the API (fingerprinting, quota); operators inspect and delete.
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        # As the API deletes (a legacy copy left in a cell goes too).
        try:
            services.keypair_delete(user_id=obj.user_id, name=obj.name)
        except KeypairNotFound:
            messages.warning(request, f"Key pair {obj.name} of {obj.user_id} was already deleted.")

    def delete_queryset(self, request, queryset):
        for user_id, name in queryset.values_list("user_id", "name"):
            try:
                services.keypair_delete(user_id=user_id, name=name)
            except KeypairNotFound:
                continue


@admin.register(KeyPairDeletion)
class KeyPairDeletionAdmin(ReadOnlyAdmin):
    """Key pairs deleted while a cell did not answer: their legacy copies are hidden and dropped.

    Read-only: removing a record would let a deleted key come back from its cell; the move clears them.
    """

    list_display = ("name", "user_id", "created_at")
    search_fields = ("=user_id", "name")
    readonly_fields = ("name", "user_id", "created_at", "updated_at")


@admin.register(KeyPairConflict)
class KeyPairConflictAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        id_column("user_id", "user"),
        id_column("cell_uuid", "cell"),
        "fingerprint",
        "resolved_at",
        "resolution",
    )
    list_filter = ("resolution",)
    search_fields = ("=user_id", "name", "=cell_uuid")
    actions = ("keep_api_copy", "keep_cell_copy")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def _resolve(self, request, queryset, keep: str):
        resolved = 0
        for conflict in queryset:
            try:
                services.keypair_conflict_resolve(conflict_id=conflict.pk, keep=keep)
                resolved += 1
            except (ConflictNotFound, ConflictUnresolvable) as exc:
                self.message_user(request, str(exc), messages.WARNING)
        self.message_user(request, f"Resolved {resolved} conflict(s), keeping the {keep} copy.")

    @admin.action(description="Resolve: keep the API database's key (drop the cell copy)")
    def keep_api_copy(self, request, queryset):
        self._resolve(request, queryset, "api")

    @admin.action(description="Resolve: replace the API key with the cell copy")
    def keep_cell_copy(self, request, queryset):
        self._resolve(request, queryset, "cell")


@register_cell_admin(LegacyKeyPair)
class LegacyKeyPairAdmin(CellModelAdmin):
    list_display = ("name", id_column("user_id", "user"), "type", "fingerprint", soft_delete_state, "created_at")
    list_filter = ("type", SoftDeleteFilter)
    search_fields = ("=user_id", "name")

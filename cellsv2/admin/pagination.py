"""Pagination of big tables in the admin: no full ``COUNT(*)`` per page view.

``LargeTableAdminMixin`` for tables that may hold 100k rows or more (instance mappings, instances,
key pairs, build requests, every cell table): PostgreSQL's planner estimate for an unfiltered
list, a cached count otherwise, no facet counts, no second count of the whole table, and searches
that an index answers.
"""

import hashlib
import re
import uuid

from django.contrib import admin
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property

from cellsv2.db import table_row_estimate

# A uuid as an operator may paste it: any case, with its dashes or none.
_UUID_TYPED = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")


class EstimatedCountPaginator(Paginator):
    """A paginator that does not count a big table on every page view.

    - An unfiltered list on PostgreSQL uses the planner's estimate (``reltuples``) once it is at
      least ``estimate_threshold`` rows: one catalog lookup instead of a scan of 100k rows.
    - Any other list counts exactly, and a count of at least ``estimate_threshold`` rows is cached
      for ``cache_seconds`` (keyed by database and query), so paging through a big filtered list
      counts it once. Small counts are cheap and never cached, so they are never stale.

    ``is_estimate`` says when the count shown is an estimate or possibly stale (the pagination
    template then says "about").
    """

    estimate_threshold = 10_000
    cache_seconds = 300

    def __init__(self, object_list, per_page, orphans=0, allow_empty_first_page=True, *, unfiltered=False):
        super().__init__(object_list, per_page, orphans, allow_empty_first_page)
        self.unfiltered = unfiltered
        self.is_estimate = False

    @staticmethod
    def _cache_key(queryset: QuerySet) -> str:
        sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
        digest = hashlib.sha256(repr((sql, params)).encode()).hexdigest()
        return f"cellsv2:admin-count:{queryset.db}:{digest}"

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        if self.unfiltered:
            estimate = table_row_estimate(queryset.db, queryset.model._meta.db_table)
            if estimate is not None and estimate >= self.estimate_threshold:
                self.is_estimate = True
                return estimate
        key = self._cache_key(queryset)
        cached = cache.get(key)
        if cached is not None:
            self.is_estimate = True
            return cached
        count = queryset.count()
        if count >= self.estimate_threshold:
            cache.set(key, count, self.cache_seconds)
        return count


class LargeTableAdminMixin:
    """ModelAdmin settings for tables that may hold 100k rows or more."""

    paginator = EstimatedCountPaginator
    # Django's "N results (M total)" would count the whole table on every filtered view.
    show_full_result_count = False
    # Facets count every filter choice over the whole table.
    show_facets = admin.ShowFacets.NEVER

    def get_search_fields(self, request):
        # Django's "=field" is iexact: UPPER(field) = UPPER(term), which no index answers (a scan of
        # the whole table per search; 10 million instance mappings: seconds). Ids, uuids and host
        # names are matched as stored, through the field's index.
        return tuple(
            f"{field.removeprefix('=')}__exact" if field.startswith("=") else field
            for field in super().get_search_fields(request)
        )

    def get_search_results(self, request, queryset, search_term):
        # Matched as stored, a uuid must be typed as stored: lower case, with dashes. One pasted in
        # upper case or without its dashes (from a log, another tool) is read as the same uuid.
        term = search_term.strip()
        if _UUID_TYPED.fullmatch(term):
            search_term = str(uuid.UUID(term))
        return super().get_search_results(request, queryset, search_term)

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        # Unfiltered: the changelist added no condition (search, filter) to the admin's own queryset.
        unfiltered = queryset.query.where == self.get_queryset(request).query.where
        return self.paginator(queryset, per_page, orphans, allow_empty_first_page, unfiltered=unfiltered)

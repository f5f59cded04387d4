"""The built-in personalization features: activity, recency, popularity, trend, regional
shares, genre affinity and co-occurrence. Pick single ones from :data:`BUILTINS` or whole sets.

Counts are 0 without history; shares and recency are NULL when there is nothing to divide or
measure from (a model such as LightGBM takes NULL as missing).
"""

from __future__ import annotations

from reelflow.features._cooc import USER_EVENTS_ALL, cooccurrence_feature
from reelflow.features._feature import Entity, Feature, FeatureSet


def _ratio(numerator: str, denominator: str) -> str:
    return f"CAST({numerator} AS DOUBLE) / NULLIF(CAST({denominator} AS DOUBLE), 0)"


def _count(
    name: str,
    entity: Entity,
    window: str | None,
    description: str,
    *,
    offset: str | None = None,
    keys: tuple[str, ...] | None = None,
    source: str | None = None,
) -> Feature:
    return Feature(
        name, entity, "COUNT(*)", window, description, offset=offset, keys=keys, source=source
    )


# --- users ---------------------------------------------------------------------------------------

user_events_7d = _count("user_events_7d", "user", "7d", "the user's events in the last 7 days")
user_events_30d = _count("user_events_30d", "user", "30d", "the user's events in the last 30 days")
user_events_all = USER_EVENTS_ALL  # defined with the co-occurrence feature, which reads it
user_last_event_at = Feature(
    "user_last_event_at", "user", "MAX(timestamp)", None, "time of the user's last event (unix s)"
)
user_recency_s = Feature.derived(
    "user_recency_s",
    "user",
    "as_of - user_last_event_at",
    [user_last_event_at],
    "seconds since the user's last event (NULL without history)",
)
user_distinct_items = Feature(
    "user_distinct_items",
    "user",
    "COUNT(DISTINCT item_id)",
    None,
    "distinct items the user consumed before as_of",
)

# --- items ---------------------------------------------------------------------------------------

item_events_7d = _count("item_events_7d", "item", "7d", "the item's events in the last 7 days")
item_events_30d = _count("item_events_30d", "item", "30d", "the item's events in the last 30 days")
item_events_all = _count("item_events_all", "item", None, "the item's events before as_of")
item_events_prev_7d = _count(
    "item_events_prev_7d", "item", "7d", "the item's events 14 to 7 days before", offset="7d"
)
item_trend_7d = Feature.derived(
    "item_trend_7d",
    "item",
    "(CAST(item_events_7d AS DOUBLE) + 1) / (CAST(item_events_prev_7d AS DOUBLE) + 1)",
    [item_events_7d, item_events_prev_7d],
    "the item's last 7 days over the 7 before (add-one smoothed): above 1 is rising",
)

# --- items per region ----------------------------------------------------------------------------

item_region_events_7d = _count(
    "item_region_events_7d", "item_region", "7d", "the item's events in the region, last 7 days"
)
item_region_events_30d = _count(
    "item_region_events_30d", "item_region", "30d", "the item's events in the region, last 30 days"
)
item_region_share_30d = Feature.derived(
    "item_region_share_30d",
    "item_region",
    _ratio("item_region_events_30d", "item_events_30d"),
    [item_region_events_30d, item_events_30d],
    "share of the item's last-30-day events that are from the region",
)

# --- users per region ----------------------------------------------------------------------------

user_region_events_all = _count(
    "user_region_events_all", "user_region", None, "the user's events in the region"
)
user_region_share = Feature.derived(
    "user_region_share",
    "user_region",
    _ratio("user_region_events_all", "user_events_all"),
    [user_region_events_all, user_events_all],
    "share of the user's events that are from the region",
)

# --- candidates (user x item) --------------------------------------------------------------------

user_item_events_all = _count(
    "user_item_events_all", "user_item", None, "times the user consumed the candidate before"
)
user_genre_events_all = _count(
    "user_genre_events_all",
    "user_item",
    None,
    "the user's events in the candidate's genre (needs items with a genre column)",
    keys=("user_id", "genre"),
)
user_genre_affinity = Feature.derived(
    "user_genre_affinity",
    "user_item",
    _ratio("user_genre_events_all", "user_events_all"),
    [user_genre_events_all, user_events_all],
    "share of the user's events in the candidate item's genre",
)
user_item_cooc_recent = cooccurrence_feature()

USER_FEATURES = FeatureSet(
    "user",
    (user_events_7d, user_events_30d, user_events_all, user_recency_s, user_distinct_items),
)
ITEM_FEATURES = FeatureSet(
    "item", (item_events_7d, item_events_30d, item_events_all, item_trend_7d)
)
ITEM_REGION_FEATURES = FeatureSet(
    "item_region", (item_region_events_7d, item_region_events_30d, item_region_share_30d)
)
USER_REGION_FEATURES = FeatureSet("user_region", (user_region_share,))
CANDIDATE_FEATURES = FeatureSet(
    "candidate", (user_item_events_all, user_genre_affinity, user_item_cooc_recent)
)

BUILTINS: dict[str, Feature] = {
    f.name: f
    for f in (
        user_events_7d,
        user_events_30d,
        user_events_all,
        user_last_event_at,
        user_recency_s,
        user_distinct_items,
        item_events_7d,
        item_events_30d,
        item_events_all,
        item_events_prev_7d,
        item_trend_7d,
        item_region_events_7d,
        item_region_events_30d,
        item_region_share_30d,
        user_region_events_all,
        user_region_share,
        user_item_events_all,
        user_genre_events_all,
        user_genre_affinity,
        user_item_cooc_recent,
    )
}


def builtin_features(*, genres: bool = True, cooccurrence: bool = True) -> FeatureSet:
    """Every built-in feature set, for a spine of (user_id, item_id, region, as_of) candidate
    rows; ``genres=False`` leaves out the genre affinity (which needs an items table with a
    ``genre`` column), ``cooccurrence=False`` the co-occurrence feature."""
    candidates = [
        f
        for f in CANDIDATE_FEATURES
        if (genres or f is not user_genre_affinity)
        and (cooccurrence or f is not user_item_cooc_recent)
    ]
    return FeatureSet(
        "builtin",
        (
            *USER_FEATURES,
            *ITEM_FEATURES,
            *ITEM_REGION_FEATURES,
            *USER_REGION_FEATURES,
            *candidates,
        ),
    )

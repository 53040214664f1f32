"""Build the classifier's rules from the configuration (ЦУР and staff addresses, tags, pattern overrides)."""

from __future__ import annotations

from daemon.config import Settings, per_settings
from parsers.rules import ClassifierRules, KindPatterns


@per_settings
def classifier_rules(settings: Settings) -> ClassifierRules:
    """One ClassifierRules per loaded configuration (settings are frozen, so this is a safe cache)."""
    org = settings.organization
    overrides = settings.classifier
    extra: dict[str, object] = {}
    if overrides.cur_patterns is not None:
        extra["cur_patterns"] = tuple(
            KindPatterns(kind=p.kind, name=p.name, keywords=p.keywords, regexes=p.regexes, reply_only=p.reply_only,
                         ignore=p.ignore)
            for p in overrides.cur_patterns
        )
    if overrides.appeal_keywords is not None:
        extra["appeal_keywords"] = overrides.appeal_keywords
    if overrides.channel_markers is not None:
        extra["channel_markers"] = tuple((k, tuple(v)) for k, v in overrides.channel_markers.items())
    return ClassifierRules(
        cur_addresses=tuple(settings.cur.addresses),
        cur_domains=tuple(settings.cur.domains),
        staff_addresses=tuple(m.email for m in settings.staff),
        staff_domains=tuple(org.staff_domains) if org.staff_domains is not None else (org.own_domain,),
        own_addresses=(org.address,),
        own_message_id_domain=org.id_domain,
        case_tag=org.case_tag,
        old_case_tags=tuple(org.old_case_tags),
        default_cur_appeal_channel=overrides.default_cur_appeal_channel,
        **extra,  # type: ignore[arg-type]
    )

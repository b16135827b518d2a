"""The dashboard shows a time as `<time datetime=...>` in UTC, the zone named, the year only when not this one."""

from datetime import UTC, datetime, timedelta, timezone

from django.template import Context, Template
from django.utils.timezone import now

from mintguard_site.dashboard.templatetags.dashboard import when


def test_a_time_this_year_shows_day_month_and_minutes_in_utc():
    moment = datetime(now().year, 12, 2, 6, 45, 4, tzinfo=UTC)
    iso = f"{now().year}-12-02T06:45:04+00:00"

    assert when(moment) == f'<time datetime="{iso}">2 Dec, 06:45 UTC</time>'
    assert when(moment, "seconds") == f'<time datetime="{iso}">2 Dec, 06:45:04 UTC</time>'


def test_a_time_of_another_year_names_the_year_and_a_date_has_no_clock():
    moment = datetime(2019, 3, 9, 23, 5, tzinfo=UTC)

    assert when(moment) == '<time datetime="2019-03-09T23:05:00+00:00">9 Mar 2019, 23:05 UTC</time>'
    assert when(moment, "date") == '<time datetime="2019-03-09T23:05:00+00:00">9 Mar 2019</time>'


def test_a_time_in_another_zone_is_shown_in_utc_and_none_shows_nothing():
    in_paris = datetime(2019, 3, 10, 0, 5, tzinfo=timezone(timedelta(hours=1)))

    rendered = Template("{% load dashboard %}{{ moment|when }}|{{ missing|when|default:'never' }}").render(
        Context({"moment": in_paris, "missing": None})
    )

    assert rendered == '<time datetime="2019-03-09T23:05:00+00:00">9 Mar 2019, 23:05 UTC</time>|never'

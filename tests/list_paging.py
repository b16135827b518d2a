"""Walking a dashboard list page by page, both ways, as an operator clicking its pager would."""

import html
import math
import re

from mintguard_site.dashboard import PAGE_SIZE

_COUNT = re.compile(r'data-testid="result-count">([^<]*)<')


def _link(page: str, css_class: str) -> str | None:
    found = re.search(rf'<a href="([^"]*)"[^>]*class="{css_class}"', page)
    return html.unescape(found[1]) if found else None


def result_count(page: str) -> str:
    """The pager's count, "1-50 of 326"."""
    return _COUNT.search(page)[1]


def list_pages(client, path: str) -> list[str]:
    """Return the HTML of every page of the list at `path`, following "Next →" from the first."""
    pages = [client.get(path).content.decode()]
    while next_href := _link(pages[-1], "next"):
        pages.append(client.get(path.split("?")[0] + next_href).content.decode())
    return pages


def assert_pages_both_ways(client, path: str, *, total: int, row_marker: str) -> None:
    """Check that the list at `path` counts `total` rows and shows each once, forward and backward.

    Every page says "first-last of total"; "Next →" leads to the last page, "Last ⇥" straight to it,
    and "← Previous" back from it to the first, through the same pages.
    """
    base = path.split("?")[0]
    forward = list_pages(client, path)
    assert len(forward) == max(1, math.ceil(total / PAGE_SIZE))
    for number, page in enumerate(forward):
        first, last = number * PAGE_SIZE + 1, min(total, (number + 1) * PAGE_SIZE)
        assert result_count(page) == (f"{first}-{last} of {total}" if total else "0 of 0")
        assert page.count(row_marker) == (last - first + 1 if total else 0)
    last_href = _link(forward[0], "last")
    assert (last_href is None) == (len(forward) == 1)
    backward = [client.get(base + last_href).content.decode()] if last_href else forward[:1]
    while previous_href := _link(backward[-1], "previous"):
        backward.append(client.get(base + previous_href).content.decode())
    assert [result_count(page) for page in reversed(backward)] == [result_count(page) for page in forward]

"""Owner rights in a real browser (issue 11.8): a link naming an owner gives rater rights only until the owner
password is entered; a wrong password is refused."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import FIRST_RENDER_MS, chromium, running_app

pytestmark = pytest.mark.browser

PASSWORD = "browser owner password"


def test_owner_link_without_the_password_only_rates(data_dir, tmp_path):
    env = {"WORKBENCH_OWNERS": "alice", "WORKBENCH_OWNER_PASSWORD": PASSWORD}
    with running_app(data_dir, tmp_path / "app.log", env) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1300, "height": 1200})
        page.goto(f"{url}/humaneval?rater=%20ALICE%20&role=owner")
        main = page.get_by_test_id("stMain")
        expect(main.get_by_text("Owner rights need the owner password", exact=False).first).to_be_visible(
            timeout=FIRST_RENDER_MS
        )
        expect(main.get_by_text("Identity: local profiles, not authenticated", exact=False)).to_be_visible()
        sections = main.get_by_text("Campaigns", exact=True)  # a section of the owner's control
        assert sections.count() == 0  # the owner's sections are not there

        secret = main.get_by_label("Owner password")
        secret.fill("wrong")
        main.get_by_role("button", name="Become owner").click()
        expect(main.get_by_text("Wrong owner password: owner rights refused.")).to_be_visible(timeout=30_000)
        assert sections.count() == 0

        main.get_by_label("Owner password").fill(PASSWORD)
        main.get_by_role("button", name="Become owner").click()
        expect(sections).to_be_visible(timeout=30_000)
        assert PASSWORD not in page.url and PASSWORD not in page.content()
        assert page.get_by_test_id("stException").count() == 0

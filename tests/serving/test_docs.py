"""docs/serving.md agrees with the code it documents."""

from __future__ import annotations

from pipeline import configs
from serving import flags

DOC = configs.REPO_ROOT / "docs" / "serving.md"


def test_the_flag_table_is_the_one_serving_flags_prints():
    assert flags.markdown_table() in DOC.read_text()


def test_every_flag_that_is_not_plainly_supported_says_why():
    for flag in flags.FLAGS:
        if flag.support != "yes":
            assert "TF Serving" in flag.help or "use --" in flag.help, flag.name

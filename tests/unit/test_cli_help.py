"""Every option of every `policy-admin` command has help text and shows its default (#10)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from policy_core.cli import build_parser


def _parsers(
    parser: argparse.ArgumentParser, path: str = "policy-admin"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_option_has_help_and_its_default_is_shown():
    missing, hidden_defaults = [], []
    for path, parser in _parsers(build_parser()):
        help_text = parser.format_help()
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            name = action.option_strings[0] if action.option_strings else action.dest
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{path} {name}")
                continue
            shows_default = (
                not action.option_strings  # positional: required, no default
                or action.required
                or action.default in (None, False, argparse.SUPPRESS)
                or "%(default)" in action.help
                or issubclass(parser.formatter_class, argparse.ArgumentDefaultsHelpFormatter)
            )
            if not shows_default:
                hidden_defaults.append(f"{path} {name}")
        assert "usage:" in help_text
    assert missing == [], missing
    assert hidden_defaults == [], hidden_defaults


def test_defaults_appear_in_the_help_text():
    for path, parser in _parsers(build_parser()):
        text = " ".join(parser.format_help().split())
        for action in parser._actions:
            if (
                action.option_strings
                and action.default not in (None, False, argparse.SUPPRESS)
                and action.help
            ):
                assert f"(default: {action.default})" in text, f"{path} {action.option_strings[0]}"

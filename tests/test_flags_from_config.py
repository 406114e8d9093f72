"""The dream, evaluate, flow and demo commands declare no config value by hand: each of their flags is
made from a config field (cli.options.add_config_options / add_config_flags, which mark the action with the
field), or is one of the command's own arguments listed here (paths and progress, no config value)."""
import dataclasses
import typing

from videostyle import cli, config

# What a command takes that no config holds: where to read and write, how to show progress.
OWN = {
    "dream": {"-h", "--help", "-o", "--output", "--style", "--quiet", "--log-format"},
    "evaluate": {"-h", "--help", "--source", "--style", "--offsets", "--json", "--plot"},
    "flow": {"-h", "--help", "-o", "--output"},
    "demo": {"-h", "--help", "-o", "--output", "--style", "--quiet"},
}


def config_fields():
    """Every plain field of every config dataclass in config.py, by name (nested configs included)."""
    out = {}
    for cls in vars(config).values():
        if isinstance(cls, type) and dataclasses.is_dataclass(cls):
            hints = typing.get_type_hints(cls)
            out.update({f.name: f for f in dataclasses.fields(cls) if not dataclasses.is_dataclass(hints[f.name])})
    return out


def test_every_flag_of_dream_evaluate_flow_and_demo_is_declared_in_config():
    fields = config_fields()
    parsers = cli.options.subparsers(cli.build_parser())
    for command, own in OWN.items():
        for action in parsers[command]._actions:
            if not action.option_strings:
                continue  # a positional path
            name = getattr(action, "config_field", None)
            if name is None:
                assert set(action.option_strings) <= own, f"videostyle {command} {action.option_strings}: by hand"
                continue
            f = fields[name]
            # Spelled as config spells it: the field's flag, after its short form.
            assert action.option_strings[-1] == config.flag_of(f), (command, action.option_strings)
            assert action.option_strings[:-1] == ([f.metadata["short"]] if "short" in f.metadata else [])
            assert action.choices == f.metadata.get("choices")
            assert getattr(action, "bounds", None) == f.metadata.get("bounds"), (command, name)


def test_the_dream_flags_build_the_dream_config():
    a = cli.build_parser().parse_args(["dream", "in.mp4", "-o", "out/", "--layer", "relu3_1", "--dream-weight", "5",
                                       "--octaves", "2"])
    assert cli.options.build_config(config.DreamConfig, vars(a)) == config.DreamConfig(layer="relu3_1", weight=5.0, octaves=2)
    defaults = cli.build_parser().parse_args(["dream", "in.mp4", "-o", "out/"])
    assert cli.options.build_config(config.DreamConfig, vars(defaults)) == config.dream_defaults().dream

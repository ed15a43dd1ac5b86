"""``lt attack``: data layouts, PNG rounding, transfer scoring (fractions in [0, 1]), every flag reaching the
attack, each command listing only its attack's options, the run dir's config (replay, print), bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from conftest import assert_user_error
from toolkit.data.imagefiles import read_image
from toolkit.data.imagesets import load_image_set

N_IMG = 6



@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Default run dirs (runs/...) land in the test's temp dir, never in the repository."""
    monkeypatch.chdir(tmp_path)


def _png(path: Path, seed: int, size: int = 16) -> None:
    from toolkit.attacks.pngs import save_png

    save_png(torch.rand(3, size, size, generator=torch.Generator().manual_seed(seed)), path)


@pytest.fixture(scope="module")
def nips(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("nips")
    (root / "images").mkdir()
    with open(root / "images.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ImageId", "URL", "x1", "y1", "x2", "y2", "TrueLabel", "TargetClass", "OriginalLandingURL"])
        for i in range(N_IMG):
            _png(root / "images" / f"img{i:02d}.png", i)
            w.writerow([f"img{i:02d}", "u", 0, 0, 1, 1, 1 + i % 10, 1 + (i + 3) % 10, "v"])
    return root


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory) -> dict[str, str]:
    from toolkit.engine.checkpoint import save_checkpoint
    from toolkit.models import get_model

    root = tmp_path_factory.mktemp("models")
    out = {}
    for i, (arch, kw) in enumerate([("smallcnn", {"width": 4}), ("smallcnn", {"width": 6}),
                                    ("smallcnn", {"width": 4, "num_classes": 5})]):
        torch.manual_seed(i)
        m = get_model(arch, **{"num_classes": 10, **kw})
        path = root / f"m{i}.pt"
        save_checkpoint(path, {"arch": m.arch, "model_args": m.model_args, "state_dict": m.state_dict()})
        out[f"m{i}"] = str(path)
    return out


def _attack(invoke, tmp_path, ckpts, data, name="mifgsm", *extra):
    out = tmp_path / f"adv-{name}"
    steps = [] if name == "fgsm" else ["--steps", "2"]
    return out, invoke("attack", name, "--surrogate", ckpts["m0"], "--victims", ckpts["m1"], "--dataset", str(data),
                       "--eps", "8/255", *steps, "--out", str(out), "--format", "json", "--device", "cpu",
                       "--quiet", *extra)


def test_help_for_every_command(invoke):
    from cli.attack import ATTACK_NAMES

    for cmd in (*ATTACK_NAMES, "eval", "list"):
        r = invoke("attack", cmd, "--help")
        assert r.exit_code == 0 and "Example: lt attack" in r.stdout


def test_cli_names_match_registry(invoke):
    from cli.attack import ATTACK_NAMES
    from toolkit.attacks import list_attacks

    assert sorted(ATTACK_NAMES) == list_attacks()
    r = invoke("attack", "list", "--format", "json")
    assert [row["attack"] for row in json.loads(r.stdout)["rows"]] == list_attacks()


def test_nips_layout(nips):
    s = load_image_set(str(nips))
    assert s.layout == "nips2017" and len(s) == N_IMG and s.names[0] == "img00"
    assert s.labels == [i % 10 for i in range(N_IMG)]  # TrueLabel is 1-indexed
    assert s.targets == [(i + 3) % 10 for i in range(N_IMG)]
    x, y = s.dataset[1]
    assert x.shape == (3, 16, 16) and y == 1
    assert load_image_set(str(nips), image_size=8, limit=2).dataset[0][0].shape == (3, 8, 8)


def test_transferattack_and_imagefolder_layouts(tmp_path):
    ta = tmp_path / "ta"
    (ta / "images").mkdir(parents=True)
    for i in range(3):
        _png(ta / "images" / f"{i}.png", i)
    (ta / "labels.csv").write_text("filename,label\n0.png,4\n1.png,0\n2.png,9\n")
    s = load_image_set(str(ta))
    assert s.layout == "transferattack" and s.labels == [4, 0, 9] and s.targets is None
    folder = tmp_path / "folder"
    for c in ("cat", "dog"):
        (folder / c).mkdir(parents=True)
        _png(folder / c / "a.png", 1)
    s = load_image_set(str(folder))
    assert s.layout == "imagefolder" and s.labels == [0, 1] and s.names == ["cat__a", "dog__a"]


def test_png_round_trip_rounds(tmp_path):
    from toolkit.attacks.pngs import save_png

    levels = torch.arange(0, 255, dtype=torch.float32)
    x = ((levels + 0.6) / 255).clamp(0, 1).view(1, 1, -1).expand(3, 4, -1).contiguous()
    save_png(x, tmp_path / "r.png")
    back = read_image(tmp_path / "r.png")
    assert torch.equal(back[0, 0].long(), (levels + 1).long())  # round, not floor


def test_transfer_scores_saved_images(invoke, tmp_path, nips, ckpts):
    out, r = _attack(invoke, tmp_path, ckpts, nips)
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    rows = {row["role"]: row for row in rep["rows"]}
    assert set(rows) == {"surrogate", "victim"} and rows["victim"]["n"] == N_IMG
    for row in rows.values():
        assert 0 <= row["asr"] <= 1 and 0 <= row["clean_acc"] <= 1  # fractions, not percent
        assert row["asr"] * N_IMG == round(row["asr"] * N_IMG)  # k / n at full precision
    assert rep["avg_asr"] == rows["victim"]["asr"]
    assert (out / "labels.csv").read_text().splitlines()[0] == "filename,label"  # untargeted: no target column
    files = sorted(p.name for p in (out / "images").iterdir())
    assert files == [f"img{i:02d}.png" for i in range(N_IMG)]
    clean = read_image(nips / "images" / "img00.png").float()
    adv = read_image(out / "images" / "img00.png").float()
    assert (adv - clean).abs().max() <= 8 and (adv - clean).abs().max() >= 7  # in the ball, moved
    # re-evaluating the saved images gives the same victim row
    r2 = invoke("attack", "eval", "--adv-dir", str(out), "--victims", ckpts["m1"], "--format", "json", "--quiet")
    assert r2.exit_code == 0, r2.output
    again = json.loads(r2.stdout)["rows"][0]
    assert {k: again[k] for k in ("asr", "clean_acc", "asr_on_correct")} == \
           {k: rows["victim"][k] for k in ("asr", "clean_acc", "asr_on_correct")}


@pytest.mark.parametrize("defense,extra", [("jpeg", ["--jpeg-quality", "50"]), ("bitdepth", ["--bits", "3"]),
                                           ("rp", []), ("rs", ["--rs-samples", "3", "--rs-sigma", "0.1"]),
                                           ("fd", [])])
def test_eval_behind_defenses(invoke, tmp_path, nips, ckpts, defense, extra):
    out, r = _attack(invoke, tmp_path, ckpts, nips, "fgsm" if defense != "jpeg" else "ifgsm")
    assert r.exit_code == 0, r.output
    r = invoke("attack", "eval", "--adv-dir", str(out), "--victims", ckpts["m1"], "--defense", defense, *extra,
               "--format", "csv", "--quiet")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0].startswith("model,role,n,clean_acc,asr")
    if defense == "rs":  # 3 votes can never pass the 0.001 test: every image abstains, and counts as fooled
        row = json.loads(invoke("attack", "eval", "--adv-dir", str(out), "--victims", ckpts["m1"], "--defense", "rs",
                                *extra, "--format", "json", "--quiet").stdout)["rows"][0]
        assert row["abstained"] == N_IMG and row["clean_abstained"] == N_IMG and row["asr"] == 1.0


def test_score_rows_denominators():
    from toolkit.attacks.transfer import Scores, score_rows

    labels = torch.tensor([0, 1, 2, 3])
    s = Scores(clean=torch.tensor([0, 1, 0, 0]), adv=torch.tensor([1, 1, 0, 3]))
    row = score_rows({"v": s}, labels, None, {})[0]
    assert row["clean_acc"] == 0.5 and row["asr"] == 0.5 and row["asr_on_correct"] == 0.5
    row = score_rows({"v": s}, labels, torch.tensor([1, 0, 0, 0]), {})[0]  # targeted: hit = target
    assert row["asr"] == 0.5
    row = score_rows({"v": Scores(clean=torch.tensor([0, 1, 2]), adv=torch.tensor([1, 1, 2]))},
                     torch.tensor([0, 1, 2]), None, {})[0]
    assert row["asr"] == 1 / 3 and row["asr_on_correct"] == 1 / 3  # full precision, not rounded


def test_every_flag_reaches_the_attack(invoke, tmp_path, nips, ckpts, monkeypatch):
    import toolkit.attacks.transfer as transfer

    built = []
    real = transfer.get_attack

    def spy(*a, **kw):
        built.append(real(*a, **kw))
        return built[-1]

    monkeypatch.setattr(transfer, "get_attack", spy)
    flags = ["--alpha", "1/255", "--decay", "0.7", "--inner-steps", "2", "--inner-decay", "0.3", "--n-samples", "2",
             "--beta", "1.2", "--np-rate", "0.25", "--ftm", "--kappa", "0.8", "--kappa-wrong", "0.95", "--tau", "1.7",
             "--loss", "margin", "--targeted", "--random-start", "--fast"]
    out, r = _attack(invoke, tmp_path, ckpts, nips, "vdta", *flags)
    assert r.exit_code == 0, r.output
    assert (out / "labels.csv").read_text().splitlines()[0] == "filename,label,target"
    a = built[-1]
    got = (a.alpha, a.steps, a.decay, a.inner_steps, a.inner_decay, a.n_samples, a.beta, a.np_rate, a.kappa,
           a.kappa_wrong, a.tau, a.loss_name, a.targeted, a.random_start, a.fast)
    assert got == (1 / 255, 2, 0.7, 2, 0.3, 2, 1.2, 0.25, 0.8, 0.95, 1.7, "margin", True, True, True)
    assert a.eps == 8 / 255
    _, r = _attack(invoke, tmp_path, ckpts, nips, "tifgsm", "--resize-rate", "0.8", "--diversity-prob", "0.9",
                   "--kernel-name", "linear", "--len-kernel", "5", "--nsig", "2", "--no-random-start")
    assert r.exit_code == 0, r.output
    a = built[-1]
    assert (a.resize_rate, a.diversity_prob, a.kernel_name, a.len_kernel, a.nsig, a.random_start) == \
           (0.8, 0.9, "linear", 5, 2.0, False)
    _, r = _attack(invoke, tmp_path, ckpts, nips, "sifgsm", "--n-scales", "3", "--ftm")
    assert r.exit_code == 0, r.output
    a = built[-1]
    assert (a.n_scales, a.kappa, a.kappa_wrong, a.tau) == (3, 1.0, 0.9, 1.5)  # --ftm defaults: authors' harness


def test_decimal_fractions_score_modes_and_resolved_config(invoke, tmp_path, nips, ckpts, monkeypatch):
    import toolkit.attacks.transfer as transfer

    built = []
    real = transfer.get_attack
    monkeypatch.setattr(transfer, "get_attack", lambda *a, **kw: built.append(real(*a, **kw)) or built[-1])
    out, r = _attack(invoke, tmp_path, ckpts, nips, "dta", "--alpha", "1.6/255", "--eps", "0.5/255",
                     "--inner-steps", "2", "--score", "float", "--multistep-alpha", "1,1/2")
    assert r.exit_code == 0, r.output
    a = built[-1]
    assert (a.alpha, a.eps, a.multistep_alpha) == (1.6 / 255, 0.5 / 255, (1.0, 0.5))
    config = json.loads((out / "config.json").read_text())
    assert config["command"] == ["attack", "dta"]
    resolved = config["resolved"]
    assert resolved["score"] == "float" and json.loads(r.stdout)["score"] == "float"
    # every option as the attack ran with it, under the CLI parameter names (defaults resolved)
    assert resolved["inner_steps"] == 2 and resolved["decay"] == 1.0 and resolved["inner_decay"] == 0.0
    assert resolved["kappa"] == 1.0 and resolved["ti"] is False and resolved["multistep_alpha"] == [1.0, 0.5]
    assert (resolved["alpha"], resolved["eps"], resolved["steps"]) == (1.6 / 255, 0.5 / 255, 2)
    assert resolved["diversity_prob"] is None and resolved["kernel_name"] is None  # DI, TI off
    assert resolved["dataset"] == str(nips) and config["info"]["num_classes"] == 10


def test_ensemble_and_transforms_with_dta(invoke, tmp_path, nips, ckpts, monkeypatch):
    import toolkit.attacks.transfer as transfer
    from toolkit.attacks.ensemble import Ensemble

    built = []
    real = transfer.get_attack
    monkeypatch.setattr(transfer, "get_attack", lambda *a, **kw: built.append(real(*a, **kw)) or built[-1])
    sur = f"{ckpts['m0']},{ckpts['m1']}"
    out = tmp_path / "ens"
    r = invoke("attack", "dta", "--surrogate", sur, "--victims", ckpts["m1"], "--dataset", str(nips), "--steps", "2",
               "--inner-steps", "2", "--diversity-prob", "0.5", "--ti", "--len-kernel", "3", "--out", str(out),
               "--format", "json", "--quiet")
    assert r.exit_code == 0, r.output
    a = built[-1]
    assert isinstance(a.model, Ensemble) and a.di and a.ti and a.diversity_prob == 0.5 and a.len_kernel == 3
    rows = json.loads(r.stdout)["rows"]
    assert [row["role"] for row in rows] == ["surrogate", "victim"] and rows[0]["model"] == sur


def test_target_mode_draws_targets(invoke, tmp_path, ckpts):
    ta = tmp_path / "ta"
    (ta / "images").mkdir(parents=True)
    for i in range(4):
        _png(ta / "images" / f"{i}.png", i)
    (ta / "labels.csv").write_text("filename,label\n0.png,4\n1.png,0\n2.png,9\n3.png,2\n")
    out = tmp_path / "tm"
    r = invoke("attack", "mifgsm", "--surrogate", ckpts["m0"], "--victims", ckpts["m1"], "--dataset", str(ta),
               "--steps", "2", "--target-mode", "least-likely", "--out", str(out), "--format", "json", "--quiet")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(out / "labels.csv")))
    assert len(rows) == 4 and all(row["target"] != row["label"] for row in rows)
    assert "targeted: success = prediction equals the target class" in json.loads(r.stdout)["notes"]


def test_seed_reaches_the_attack(invoke, tmp_path, nips, ckpts):
    outs = []
    for i, seed in enumerate((1, 1, 2)):
        out = tmp_path / f"s{i}"
        r = invoke("attack", "pgd", "--surrogate", ckpts["m0"], "--victims", ckpts["m1"], "--dataset", str(nips),
                   "--steps", "1", "--seed", str(seed), "--out", str(out), "--quiet", "--format", "json")
        assert r.exit_code == 0, r.output
        outs.append(read_image(out / "images" / "img00.png"))
    assert torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])


def test_bad_input(invoke, tmp_path, nips, ckpts):
    base = ["--surrogate", ckpts["m0"], "--victims", ckpts["m1"], "--dataset", str(nips), "--quiet"]
    r = invoke("attack", "dtaa", *base)
    assert r.exit_code == 2 and "No such command" in r.output
    assert_user_error(invoke("attack", "ifgsm", *base, "--eps", "0"), "--eps must be > 0")
    assert_user_error(invoke("attack", "ifgsm", *base, "--eps", "2"), "--eps must be <= 1")
    assert_user_error(invoke("attack", "ifgsm", *base, "--eps", "a/b"), "--eps")
    # an option the attack does not take is not a flag of its command (the library refuses it too)
    for name, flag in (("ifgsm", "--decay"), ("mifgsm", "--inner-steps"), ("fgsm", "--steps"), ("ifgsm", "--ti")):
        r = invoke("attack", name, *base, flag, "3")
        assert r.exit_code == 2 and "No such option" in r.output and flag in r.output, r.output
    assert_user_error(invoke("attack", "ifgsm", *base, "--kappa", "0.5"), "need --ftm")
    r = invoke("attack", "ifgsm", "--surrogate", ckpts["m0"], "--victims", "vggg16", "--dataset", str(nips))
    assert_user_error(r, "unknown model 'vggg16'", "vgg16")
    r = invoke("attack", "ifgsm", "--surrogate", ckpts["m0"], "--victims", ckpts["m1"], "--dataset", "nope-set")
    assert_user_error(r, "nope-set", "digits-lt")
    r = invoke("attack", "ifgsm", *base[:4], "--targeted", "--dataset", "digits-lt", "--limit", "2")
    assert_user_error(r, "--targeted needs target classes")
    out, r = _attack(invoke, tmp_path, ckpts, nips, "fgsm")
    assert r.exit_code == 0
    assert_user_error(_attack(invoke, tmp_path, ckpts, nips, "fgsm")[1], "exists and is not empty", "--force")
    assert _attack(invoke, tmp_path, ckpts, nips, "fgsm", "--force")[1].exit_code == 0
    assert_user_error(invoke("attack", "eval", "--adv-dir", str(tmp_path / "none"), "--victims", ckpts["m1"]),
                      "labels.csv")
    # a defense option for another defense
    r = invoke("attack", "eval", "--adv-dir", str(out), "--victims", ckpts["m1"], "--defense", "jpeg", "--bits", "3")
    assert_user_error(r, "--defense jpeg does not use --bits (--defense bitdepth)")
    r = invoke("attack", "eval", "--adv-dir", str(out), "--victims", ckpts["m1"], "--rs-samples", "5")
    assert_user_error(r, "--defense none does not use --rs-samples")
    # --target-mode on data that has its own targets
    assert_user_error(invoke("attack", "ifgsm", *base, "--target-mode", "random"),
                      "--target-mode random draws the targets", "has its own target classes")
    # an ensemble member with another class count
    r = invoke("attack", "ifgsm", "--surrogate", f"{ckpts['m0']},{ckpts['m2']}", "--victims", ckpts["m1"],
               "--dataset", str(nips), "--quiet")
    assert_user_error(r, "ensemble members predict different numbers of classes", "5")
    assert_user_error(invoke("attack", "dta", *base, "--len-kernel", "5"), "--len-kernel: not used without --ti")
    assert_user_error(invoke("attack", "ifgsm", *base, "--steps", "3", "--multistep-alpha", "1,1"),
                      "--multistep-alpha needs one factor per step (3)")


def test_bad_data_files(invoke, tmp_path, nips, ckpts):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(nips, bad)
    base = ["--surrogate", ckpts["m0"], "--victims", ckpts["m1"], "--dataset", str(bad), "--quiet"]
    (bad / "images" / "img03.png").unlink()
    assert_user_error(invoke("attack", "fgsm", *base), "missing", "img03")
    (bad / "images" / "img03.png").write_bytes(b"not a png")
    assert_user_error(invoke("attack", "fgsm", *base), "img03.png", "unreadable")
    _png(bad / "images" / "img03.png", 3)
    text = (bad / "images.csv").read_text().replace("img02,u,0,0,1,1,3,", "img02,u,0,0,1,1,50,")
    (bad / "images.csv").write_text(text)
    assert_user_error(invoke("attack", "fgsm", *base), "label 49", "img02", "10 classes")
    # refused before any output was written: the run dir each refused call created is gone again
    assert not (tmp_path / "runs").exists()  # the failed call removed the run dir and the runs/ it made


# ----------------------------------------------------------------------------- one command per attack
RUN_PARAMS = {"surrogate", "victims", "dataset", "score", "weights", "num_classes", "image_size", "batch_size",
              "limit", "data_root", "out", "force", "deterministic", "config", "print_config", "device", "seed", "fmt",
              "quiet"}


def test_each_command_lists_only_its_attacks_options():
    import typer

    from cli.attack import ATTACK_NAMES
    from cli.main import app
    from toolkit.attacks import ATTACKS

    group = typer.main.get_command(app).commands["attack"]
    for name in ATTACK_NAMES:
        params = {p.name for p in group.commands[name].params}
        # the attack class's options (its private-generator seed is the run's --seed), plus the FTM switch
        assert params - RUN_PARAMS == (set(ATTACKS.get(name).accepted_options()) - {"seed"}) | {"ftm"}, name
        assert RUN_PARAMS <= params


def test_help_shows_the_attacks_flags_and_defaults(runner):
    from cli.main import app

    def helptext(name: str) -> str:  # wide, so that no flag name is cut short
        return runner.invoke(app, ["attack", name, "--help"], env={"COLUMNS": "250"}).stdout

    fgsm = helptext("fgsm")
    assert "--inner-steps" not in fgsm and "--steps" not in fgsm and "--alpha" not in fgsm
    dta = helptext("dta")
    for flag in ("--inner-steps", "--inner-decay", "--diversity-prob", "--resize-rate", "--ti", "--kernel-name",
                 "--n-scales", "--np-rate", "--decay"):
        assert flag in dta, flag
    from cli.attack import ATTACK_NAMES

    for name in ATTACK_NAMES:  # FTM plugs into any attack
        text = helptext(name)
        assert all(f in text for f in ("--ftm", "--kappa", "--kappa-wrong", "--tau", "--np-rate")), name
    vdta = helptext("vdta")
    assert "[default: 0.8]" in vdta  # the effective default of --inner-decay for vdta (dta: 0.0)


def test_data_spelling_is_dataset(invoke, tmp_path, nips, ckpts):
    """--data was removed in 0.3 (--dataset); --print-config shows the dataset as given."""
    r = invoke("attack", "fgsm", "--surrogate", ckpts["m0"], "--victims", ckpts["m1"], "--dataset", str(nips),
               "--print-config")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["resolved"]["dataset"] == str(nips)


def test_errors_name_dataset_flag(invoke, tmp_path, ckpts):
    empty = tmp_path / "EMPTYDIR"
    empty.mkdir()
    r = invoke("attack", "fgsm", "--surrogate", ckpts["m0"], "--victims", ckpts["m1"], "--dataset", str(empty))
    assert_user_error(r, f"--dataset '{empty}'")
    assert "--data '" not in r.output


def test_library_rules_say_what_the_cli_says(invoke, tmp_path, nips, ckpts):
    """Each rule of the options classes: the library call raises the CLI's one Error: line."""
    import re

    from toolkit.attacks.transfer import eval_adv_dir, run_attack
    from toolkit.engine.errors import LtError

    base = {"surrogate": ckpts["m0"], "victims": [ckpts["m1"]], "dataset": str(nips)}
    cli = ["--surrogate", ckpts["m0"], "--victims", ckpts["m1"], "--dataset", str(nips), "--quiet"]
    for name, values, flags, text in (
            ("dta", {"len_kernel": 5}, ["--len-kernel", "5"], "--len-kernel: not used without --ti"),
            ("ifgsm", {"kappa": 0.5}, ["--kappa", "0.5"], "need --ftm"),
            ("ifgsm", {"steps": 3, "multistep_alpha": "1,1"}, ["--steps", "3", "--multistep-alpha", "1,1"],
             "--multistep-alpha needs one factor per step (3)"),
            ("dta", {"resize_rate": 1.0}, ["--resize-rate", "1"], "--resize-rate must not be 1")):
        with pytest.raises(LtError, match=re.escape(text)):
            run_attack(name, **base, **values, out=str(tmp_path / name))
        assert_user_error(invoke("attack", name, *cli, *flags), text)
    with pytest.raises(LtError, match="--defense jpeg does not use --bits"):
        eval_adv_dir(adv_dir=str(tmp_path), victims=[ckpts["m1"]], defense="jpeg", bits=3)


def test_losses_below_three_classes_are_one_error():
    """The transfer attacks and the evaluator share toolkit.attacks.losses: dlr below 3 classes is an LtError."""
    import re

    from toolkit.attacks import get_attack
    from toolkit.attacks.losses import attack_loss, example_loss
    from toolkit.defense.whitebox import PGD
    from toolkit.engine.errors import LtError

    text = re.escape("the dlr loss needs at least 3 classes (got 2)")
    z, y = torch.tensor([[2.0, 1.0], [0.0, 3.0]]), torch.tensor([0, 1])
    for fn in (lambda: attack_loss(z, y, "dlr"), lambda: example_loss(z, y, "dlr")):
        with pytest.raises(LtError, match=text):
            fn()
    assert torch.allclose(example_loss(z, y, "margin"), torch.tensor([-1.0, -3.0]))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2))
    x, y = torch.rand(2, 3, 2, 2), torch.tensor([0, 1])
    for attack in (lambda: get_attack("pgd", model, loss="dlr", steps=1)(x, y),
                   lambda: PGD(model, 8 / 255, 1, loss="dlr")(x, y)):
        with pytest.raises(LtError, match=text):
            attack()


def test_print_config_writes_nothing_and_config_replays(invoke, tmp_path, nips, ckpts):
    r = invoke("attack", "mifgsm", "--surrogate", ckpts["m0"], "--victims", ckpts["m1"], "--dataset", str(nips),
               "--steps", "2", "--decay", "0.5", "--print-config", "--out", str(tmp_path / "p"))
    assert r.exit_code == 0, r.output
    printed = json.loads(r.stdout)
    assert printed["resolved"]["decay"] == 0.5 and printed["resolved"]["alpha"] == (16 / 255) / 2
    assert not (tmp_path / "p").exists() and not (tmp_path / "runs").exists()
    for extra in ([], ["--ftm", "--tau", "2"]):  # FTM off (kappa.. recorded as 1) and on
        out = tmp_path / f"first{len(extra)}"
        _, r = _attack(invoke, tmp_path, ckpts, nips, "mifgsm", "--decay", "0.5", *extra, "--out", str(out))
        assert r.exit_code == 0, r.output
        again = tmp_path / f"again{len(extra)}"
        r2 = invoke("attack", "mifgsm", "--config", str(out / "config.json"), "--out", str(again), "--format", "json",
                    "--quiet")
        assert r2.exit_code == 0, r2.output
        first, second = (json.loads((d / "config.json").read_text()) for d in (out, again))
        how = {"out", "device"}  # where and on what it ran: not replayed
        assert {k: v for k, v in first["resolved"].items() if k not in how} == \
               {k: v for k, v in second["resolved"].items() if k not in how}
        assert json.loads((out / "metrics.json").read_text()) == json.loads((again / "metrics.json").read_text())
        for f in sorted((out / "images").iterdir()):
            assert f.read_bytes() == (again / "images" / f.name).read_bytes()
    assert first["resolved"]["tau"] == 2.0 and first["resolved"]["kappa_wrong"] == 0.9 and first["resolved"]["ftm"]
    # another attack's config is refused
    assert_user_error(invoke("attack", "dta", "--config", str(out / "config.json")), "not of 'lt attack dta'")


def test_eval_reads_the_recorded_data_in_both_layouts(invoke, tmp_path, nips, ckpts):
    out, r = _attack(invoke, tmp_path, ckpts, nips, "ifgsm", "--limit", "4")
    assert r.exit_code == 0, r.output
    victim = json.loads(r.stdout)["rows"][1]
    config = json.loads((out / "config.json").read_text())
    rows = []
    for layout in ("new", "old"):
        if layout == "old":  # the flat layout lt attack wrote before the one schema (lt 0.1.0 adv dirs)
            r_ = config["resolved"]
            (out / "config.json").write_text(json.dumps(
                {"attack": "ifgsm", "data": r_["dataset"], "data_root": None, "image_size": None, "limit": 4,
                 "num_classes": 10, "weights": None, "options": {}}))
        r2 = invoke("attack", "eval", "--adv-dir", str(out), "--victims", ckpts["m1"], "--format", "json", "--quiet")
        assert r2.exit_code == 0, r2.output
        rows.append(json.loads(r2.stdout)["rows"][0])
    for row in rows:  # clean data found (limit 4 applied): clean accuracy and asr_on_correct are there
        assert row["n"] == 4 and {k: row[k] for k in ("clean_acc", "asr", "asr_on_correct")} == \
               {k: victim[k] for k in ("clean_acc", "asr", "asr_on_correct")}


def test_library_refuses_an_option_the_attack_does_not_take(tmp_path, nips, ckpts):
    from toolkit.attacks.transfer import run_attack
    from toolkit.engine.errors import LtError

    for name, option in (("fgsm", {"steps": 3}), ("ifgsm", {"decay": 1.0}), ("mifgsm", {"inner_steps": 2})):
        with pytest.raises(LtError, match="does not use option"):
            run_attack(name, surrogate=ckpts["m0"], victims=[ckpts["m1"]], dataset=str(nips), out=str(tmp_path / name),
                       device="cpu", **option)
        assert not (tmp_path / name).exists()
    with pytest.raises(LtError, match="need --ftm"):
        run_attack("ifgsm", surrogate=ckpts["m0"], victims=[ckpts["m1"]], dataset=str(nips), kappa=0.5,
                   out=str(tmp_path / "k"))


@pytest.mark.parametrize("flag", ["--limit", "--image-size", "--num-classes", "--batch-size"])
@pytest.mark.parametrize("value", ["0", "-3"])
def test_sizes_below_one_are_refused_not_read_as_not_given(invoke, tmp_path, flag, value):
    """--limit 0 used to attack every image, --image-size -3 to fail deep inside torch with a traceback."""
    r = invoke("attack", "ifgsm", "--surrogate", "smallcnn", "--victims", "smallcnn", "--dataset", "digits",
               flag, value, "--out", tmp_path / "o", "--quiet")
    assert_user_error(r, f"{flag} must be >= 1 (got {value})")
    assert not (tmp_path / "o").exists()
    if flag in ("--num-classes", "--batch-size"):
        r = invoke("attack", "eval", "--adv-dir", tmp_path, "--victims", "smallcnn", flag, value)
        assert_user_error(r, f"{flag} must be >= 1 (got {value})")

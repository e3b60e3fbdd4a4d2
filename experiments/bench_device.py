"""The accelerator path, checked and timed. Prints:
- agreement of one node's update (FedSGD gradient and K local Adam steps)
  computed on the CPU and on the device, for the same adapter, data and seed;
- seconds per local LoRA step on CPU and on the device for the default model
  and a larger one, and their ratio (measured in this one run);
- an `edgeft local` run with `--device DEVICE`: which device every node
  enrolled with, and the validation loss per epoch.
With `--model smollm2-135m` the agreement, a step timing and the end-to-end run
also use SmolLM2-135M (scripts/install.sh --smollm2). On CUDA it then probes where a
step's time goes: batch 16 and 256 x 64, fp32 and bf16 autocast, and torch.compile
(TFLOP/s by the 6N rule: 6 x parameters x tokens per step).

At the end it prints the machine (device, CPU cores, torch, transformers, peft) and
every figure as the rows of docs/benchmarks.md's device table, in the same form, so
that a run on another GPU can be pasted beside the H100 and H200 tables.

Needs a CUDA machine for anything but `--device cpu`; exits 2 with the reason
where the device is missing.

Run: .venv/bin/python experiments/bench_device.py --device cuda [--model smollm2-135m]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from edge_client.trainer import LocalTrainer
from edgeft.modeling import BuiltinArch, LoraSettings, builtin_config, pick_device
from experiments.runners.local import local_command

VOCAB = 2048
ROWS: list[tuple[str, str]] = []  # (figure, measured): the device table's rows, printed at the end
LARGER = BuiltinArch(layers=8, hidden=1024, heads=16, intermediate=2816)


def row(figure: str, measured: str) -> None:
    """One row of the device table (docs/benchmarks.md)."""
    ROWS.append((figure, measured))


def _trainers(arch: BuiltinArch, device: torch.device, batch: int) -> tuple[LocalTrainer, LocalTrainer]:
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    base = LlamaForCausalLM(builtin_config(arch, VOCAB))
    data = torch.randint(0, VOCAB, (batch * 2, 128), generator=torch.Generator().manual_seed(1))
    state = {k: v.clone() for k, v in base.state_dict().items()}
    cfg = base.config.to_dict()
    lora = LoraSettings(dropout=0.0)  # dropout masks come from each device's own RNG stream
    return (LocalTrainer(cfg, state, lora, data, torch.device("cpu")), LocalTrainer(cfg, state, lora, data, device))


def _smollm2_trainers(device: torch.device, batch: int) -> tuple[LocalTrainer, LocalTrainer]:
    from edgeft.model_zoo import materialize
    from edgeft.modeling import load_pretrained

    folder = str(materialize("smollm2-135m"))
    data = torch.randint(0, 49152, (batch * 2, 64), generator=torch.Generator().manual_seed(1))
    lora = LoraSettings(dropout=0.0)
    return (
        LocalTrainer.on_base(load_pretrained(folder), lora, data, torch.device("cpu")),
        LocalTrainer.on_base(load_pretrained(folder), lora, data, device),
    )


def _rel_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    num = sum(float((a[k] - b[k]).pow(2).sum()) for k in a) ** 0.5
    den = sum(float(a[k].pow(2).sum()) for k in a) ** 0.5
    return num / max(den, 1e-30)


def check_agreement(device: torch.device, model: str = "tiny") -> bool:
    """The same update on both devices; TF32 is off so that only summation order differs."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    cpu, dev = _trainers(BuiltinArch(), device, 8) if model == "tiny" else _smollm2_trainers(device, 4)
    ok = True
    for steps in (1, 4):
        a = cpu.compute_update(steps, 1e-3, 8, 0, "node-00")
        b = dev.compute_update(steps, 1e-3, 8, 0, "node-00")
        rel = _rel_diff(a.tensors, b.tensors)
        good = rel < 1e-3 and abs(a.loss - b.loss) < 1e-4 and all(t.device.type == "cpu" for t in b.tensors.values())
        ok &= good
        kind = "FedSGD gradient" if steps == 1 else f"{steps} local Adam steps"
        print(
            f"  {kind:<20} loss cpu {a.loss:.6f} {device.type} {b.loss:.6f}  relative L2 difference {rel:.2e}  "
            f"{'agree' if good else 'DISAGREE'}"
        )
        who = "" if model == "tiny" else f"{MODEL_NAMES.get(model, model)} "
        row(
            f"{who}{kind}, CPU vs {device.type.upper()}",
            f"loss {a.loss:.6f} vs {b.loss:.6f}; relative L2 difference {rel:.2e} ({'agree' if good else 'DISAGREE'})",
        )
    return ok


MODEL_NAMES = {"smollm2-135m": "SmolLM2-135M"}


def _step_row(what: str, t_cpu: float, t_dev: float, device: torch.device) -> None:
    cores = os.cpu_count() or 0
    row(
        f"local LoRA step, {what}",
        f"CPU {t_cpu * 1e3:.1f} ms ({cores} cores), {device.type.upper()} {t_dev * 1e3:.1f} ms "
        f"({t_cpu / t_dev:.1f}×)",
    )


def _step_seconds(trainer: LocalTrainer, steps: int, sync) -> float:
    trainer.compute_update(2, 1e-3, 16, 0, "warmup")
    times = []
    for _ in range(3):
        sync()
        t0 = time.perf_counter()
        trainer.compute_update(steps, 1e-3, 16, 0, "bench")
        sync()
        times.append((time.perf_counter() - t0) / steps)
    return statistics.median(times)


def time_steps(device: torch.device, model: str = "tiny") -> None:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if model != "tiny":
        cpu, dev = _smollm2_trainers(device, 8)
        t_cpu, t_dev = _step_seconds(cpu, 2, lambda: None), _step_seconds(dev, 2, sync)
        print(
            f"  {model:<18} batch 16 x 64:  cpu {t_cpu * 1e3:8.1f} ms/step  {device.type} {t_dev * 1e3:8.1f} ms/step  "
            f"speed-up {t_cpu / t_dev:6.1f}x"
        )
        _step_row(f"{MODEL_NAMES.get(model, model)}, batch 16 × 64", t_cpu, t_dev, device)
    for name, arch, what in (
        ("default (2 x 128)", BuiltinArch(), "default model (2 × 128), batch 16 × 128"),
        ("larger (8 x 1024)", LARGER, "8 layers × 1024, batch 16 × 128"),
    ):
        cpu, dev = _trainers(arch, device, 16)
        t_cpu = _step_seconds(cpu, 5, lambda: None)
        t_dev = _step_seconds(dev, 5, sync)
        print(
            f"  {name:<18} batch 16 x 128: cpu {t_cpu * 1e3:8.1f} ms/step  {device.type} {t_dev * 1e3:8.1f} ms/step  "
            f"speed-up {t_cpu / t_dev:6.1f}x"
        )
        _step_row(what, t_cpu, t_dev, device)


def _probe_ms(forward, batch: torch.Tensor, params: list, bf16: bool, reps: int = 10) -> float:
    """Milliseconds per LoRA step (forward, backward, Adam) of `forward` on `batch`."""
    opt = torch.optim.Adam(params, lr=1e-4)

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            loss = forward(input_ids=batch, labels=batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(3):  # allocator, cuBLAS handles, and for a compiled module the compilation
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        step()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / reps * 1e3


def probe_overhead(device: torch.device, model: str = "tiny") -> None:
    """Where a step's time goes on the device: batch 16 and 256 x 64, fp32 and bf16
    autocast, then torch.compile at batch 256 in bf16 (TFLOP/s by the 6N rule). A time
    that does not grow with the batch is per-step overhead (kernel launches, Python), not
    arithmetic. SmolLM2-135M with --model smollm2-135m, else the 8 x 1024 built-in model."""
    from transformers import LlamaForCausalLM

    from edgeft.modeling import with_lora

    if model == "tiny":
        torch.manual_seed(0)
        base, vocab, name = LlamaForCausalLM(builtin_config(LARGER, VOCAB)), VOCAB, "8 × 1024 model"
    else:
        from edgeft.model_zoo import materialize
        from edgeft.modeling import load_pretrained

        base, vocab, name = load_pretrained(str(materialize(model))), 49152, MODEL_NAMES.get(model, model)
    net = with_lora(base, LoraSettings(dropout=0.0), seed=0).to(device).train()
    params = [p for p in net.parameters() if p.requires_grad]
    data = torch.randint(0, vocab, (256, 64), generator=torch.Generator().manual_seed(1)).to(device)
    ms = {(b, bf16): _probe_ms(net, data[:b], params, bf16) for b in (16, 256) for bf16 in (False, True)}
    compiled = _probe_ms(torch.compile(net), data, params, True)
    flops = 6 * sum(p.numel() for p in net.parameters()) * data.numel()
    for (b, bf16), t in ms.items():
        print(f"  {name} batch {b:>3} x 64 {'bf16' if bf16 else 'fp32'}: {t:8.1f} ms/step")
    print(f"  {name} batch 256 x 64 bf16, torch.compile: {compiled:8.1f} ms/step, {flops / compiled / 1e9:.0f} TFLOP/s")
    row(
        f"{name} LoRA step on {device.type.upper()}, batch 16 / 256 × 64",
        f"fp32 {ms[16, False]:.1f} / {ms[256, False]:.1f} ms, "
        f"bf16 autocast {ms[16, True]:.1f} / {ms[256, True]:.1f} ms",
    )
    row(
        "the same with `torch.compile`, batch 256 × 64, bf16",
        f"{compiled:.1f} ms (~{flops / compiled / 1e9:.0f} TFLOP/s by the 6N rule)",
    )


def machine(device: torch.device) -> str:
    """The line that says where the figures come from."""
    from importlib.metadata import PackageNotFoundError, version

    def ver(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "absent"

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "no accelerator"
    return (
        f"{gpu}, {os.cpu_count()} CPU cores; torch {torch.__version__}, transformers {ver('transformers')}, "
        f"peft {ver('peft')}"
    )


def print_table() -> None:
    """Every figure as the rows of docs/benchmarks.md's device table."""
    print("| figure | measured |\n|---|---|")
    for figure, measured in ROWS:
        print(f"| {figure} | {measured} |")


def local_run(device: str, nodes: int, epochs: int, model: str = "tiny") -> bool:
    """A whole `edgeft local` run on the device: every node must enrol with it."""
    with tempfile.TemporaryDirectory() as out:
        cmd = local_command(out, nodes=nodes, epochs=epochs, policy="ne", device=device, model=model)
        t0 = time.perf_counter()
        rc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
        wall = time.perf_counter() - t0
        if rc.returncode != 0:
            print(rc.stdout[-2000:], rc.stderr[-2000:])
            for log in sorted((Path(out) / "logs").glob("*.log"))[-2:]:
                print(f"--- {log.name}\n{log.read_text()[-3000:]}")
            return False
        with open(Path(out) / "nodes.csv") as fh:
            devices = sorted({r["device"] for r in csv.DictReader(fh)})
        with open(Path(out) / "epochs.csv") as fh:
            losses = [float(r["val_loss"]) for r in csv.DictReader(fh)]
        orch_log = (Path(out) / "logs" / "orchestrator.log").read_text()
        print(
            f"  edgeft local --device {device}: rc 0 in {wall:.1f} s; nodes enrolled with {devices}; "
            f"val loss per epoch {[round(x, 4) for x in losses]}"
        )
        flags = f"--device {device}" + ("" if model == "tiny" else f" --model {model}")
        every = "every node" if devices == [str(pick_device(device))] else "NOT every node"
        row(
            f"`edgeft local {flags} --nodes {nodes} --epochs {epochs}`",
            f"rc 0 in {wall:.1f} s; {every} enrolled with `{', '.join(devices)}`; "
            f"val loss {' → '.join(f'{x:.4f}' for x in losses)}",
        )
        return (
            devices == [str(pick_device(device))]
            and len(losses) == epochs
            and losses[-1] < losses[0]
            and "Traceback" not in orch_log
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="the accelerator to check (cuda, cuda:1, ...)")
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--model", default="tiny", choices=["tiny", "smollm2-135m"])
    ap.add_argument("--no-probe", action="store_true", help="skip the batch / dtype / torch.compile probe")
    args = ap.parse_args()
    try:
        device = pick_device(args.device)
    except ValueError as exc:
        print(f"bench_device: {exc}", file=sys.stderr)
        return 2
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device {device} ({name}), torch {torch.__version__}")
    print("update agreement, cpu vs device:")
    agree = check_agreement(device, args.model)
    print("seconds per local LoRA step:")
    time_steps(device, args.model)
    if device.type == "cuda" and not args.no_probe:
        print("where a step's time goes:")
        probe_overhead(device, args.model)
    print("end to end:")
    ran = local_run(args.device, args.nodes, args.epochs, args.model)
    print(f"result: agreement {'ok' if agree else 'FAILED'}, end-to-end {'ok' if ran else 'FAILED'}")
    print(f"\nmeasured on {machine(device)}:\n")
    print_table()
    return 0 if agree and ran else 1


if __name__ == "__main__":
    sys.exit(main())

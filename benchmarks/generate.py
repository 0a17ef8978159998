"""Generate a realistic monorepo of PeriFlow job templates for the benchmarks.

    python benchmarks/generate.py DIR [--n 1000] [--seed 0]

writes ``DIR/pfgen.yaml`` and ``DIR/teams/<team>/<job>/pf-template.yml`` for N
jobs. The jobs vary the way real ones do: VM names from pfgen's catalogue, its
aliases and the naming grammar (several clouds, GPU models, regions, spot or
not) and from the project's own on-prem ``vms:``; single- and multi-node
device counts; datastore and Hugging Face datasets; input and output
checkpoints; dist degrees; env vars; string and {setup, run} commands;
credentials; workspaces with a few files. Output is a pure function of
(N, seed), so two runs produce the same bytes.

Extending it (for new template or config features): write a function
``feature(rng, index, template, job_dir)`` that edits the template dict (and
may write files under ``job_dir``), decorate it with ``@template_feature``,
and, if it needs project settings, add them in ``project_config``. A feature
whose keys the schema does not know yet can check ``schema_knows(...)`` and
do nothing until they land (see ``tuning`` and ``workspace`` below).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

import yaml

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "schemas" / "pf-template.schema.json"
VMS = REPO / "pfgen" / "resolve" / "vms.json"

TEAMS = ["vision", "nlp", "speech", "recsys", "research", "platform", "llm", "robotics"]
IMAGES = ["friendliai/periflow:sdk", "pytorch/pytorch:2.3.1-cuda12.1-cudnn8-runtime",
          "nvcr.io/nvidia/pytorch:24.05-py3", "registry.example.com/ml/train:1.4.2",
          "ghcr.io/example/trainer@sha256:" + "ab" * 32]
MODELS = ["resnet50", "vit-b16", "bert-base", "gpt2-medium", "t5-small", "whisper-small", "llama-7b", "dlrm"]
DATASTORES = ["imagenet-1k", "cifar-100", "librispeech", "c4-en", "criteo-1tb", "coco-2017"]
HF_DATASETS = ["glue", "squad", "wikitext", "imdb", "common_voice"]
CHECKPOINTS = ["bert-base-pretrained", "llama-7b-base", "resnet50-imagenet"]
ONPREM = {"dgx-a100": 8, "rtx-box": 2}

FEATURES: list[Callable[..., None]] = []


def template_feature(fn: Callable[..., None]) -> Callable[..., None]:
    FEATURES.append(fn)
    return fn


def schema_knows(*path: str) -> bool:
    """True if the template schema has the property at ``path`` (e.g. "job_setting", "workspace", "path")."""
    node: Any = json.loads(SCHEMA.read_text(encoding="utf-8"))
    for key in path:
        node = node.get("properties", {}).get(key)
        if node is None:
            return False
    return True


def vm_names(rng: random.Random) -> list[tuple[str, int]]:
    """(VM name, GPUs per VM): catalogue names, aliases, grammar names, on-prem names."""
    data = json.loads(VMS.read_text(encoding="utf-8"))
    names = [(vm["name"], vm["gpus"]) for vm in data["vms"]]
    catalogue = {vm["name"]: vm["gpus"] for vm in data["vms"]}
    names += [(alias, catalogue[target]) for alias, target in data["aliases"].items() if target in catalogue]
    for cloud, regions in sorted(data["regions"].items()):
        for gpu, sizes in sorted(data["gpu_memory_gb"].items()):
            for gpus in (1, 2, 4, 8):
                region = rng.choice(sorted(regions))
                memory = rng.choice(sizes)
                spot = "-spot" if rng.random() < 0.4 else ""
                names.append((f"{cloud}-{memory}gb-{gpu}-{gpus}g-{region}{spot}", gpus))
    names += sorted(ONPREM.items())
    return names


def _devices(rng: random.Random, per_vm: int) -> int:
    if rng.random() < 0.6:
        return rng.choice([d for d in (1, 2, 4, 8) if d <= per_vm] or [per_vm])
    return per_vm * rng.choice([2, 3, 4, 8])


def _dist(rng: random.Random, devices: int) -> dict:
    mp = rng.choice([d for d in (1, 2, 4, 8) if devices % d == 0])
    pp = rng.choice([d for d in (1, 2) if (devices // mp) % d == 0])
    return {"dp_degree": devices // mp // pp, "pp_degree": pp, "mp_degree": mp}


def base_template(rng: random.Random, index: int, vms: list[tuple[str, int]]) -> dict:
    model = rng.choice(MODELS)
    vm, per_vm = rng.choice(vms)
    devices = _devices(rng, per_vm)
    nodes = max(1, devices // per_vm)
    run = (f"cd /workspace/src && torchrun --nnodes $NUM_NODES --node_rank $NODE_RANK --master_addr $MASTER_ADDR "
           f"--master_port {rng.choice([6000, 23456, 29500])} --nproc_per_node $NPROC_PER_NODE train.py \\\n"
           f"  --model {model} --batch-size {rng.choice([32, 64, 128, 256])} --epochs {rng.randint(1, 90)} \\\n"
           f"  --lr {rng.choice(['1e-4', '3e-4', '0.1'])} --seed {index}\n")
    command: Any = run
    if rng.random() < 0.5:
        command = {"setup": "pip install -r requirements.txt\npython prepare.py --nodes " + str(nodes) + "\n", "run": run}
    docker: dict[str, Any] = {"image": rng.choice(IMAGES), "command": command}
    if rng.random() < 0.7:
        docker["env_var"] = {f"{key}": value for key, value in rng.sample(
            [("NCCL_DEBUG", "INFO"), ("OMP_NUM_THREADS", rng.randint(1, 16)), ("WANDB_PROJECT", model),
             ("TOKENIZERS_PARALLELISM", False), ("LOG_LEVEL", "debug"), ("HF_HOME", "/cache/hf"),
             ("LEARNING_RATE", 0.0003), ("RUN_ID", f"run-{index:05d}")], rng.randint(1, 5))}
    if rng.random() < 0.2:
        docker["credential_id"] = "regcred"
    template: dict[str, Any] = {
        "experiment": f"{model}-{rng.choice(['baseline', 'ablation', 'sweep', 'prod'])}",
        "name": f"{model}-job-{index:05d}",
        "vm": vm,
        "num_devices": devices,
        "job_setting": {"type": "custom", "docker": docker, "workspace": {"mount_path": "/workspace"}},
    }
    return template


@template_feature
def data(rng: random.Random, index: int, template: dict, job_dir: Path) -> None:
    roll = rng.random()
    if roll < 0.5:
        template["data"] = {"name": rng.choice(DATASTORES), "mount_path": "/workspace/data"}
    elif roll < 0.7:
        template["data"] = {"name": "huggingface:" + rng.choice(HF_DATASETS), "mount_path": "/cache/datasets"}


@template_feature
def checkpoints(rng: random.Random, index: int, template: dict, job_dir: Path) -> None:
    checkpoint: dict[str, Any] = {}
    if rng.random() < 0.7:
        checkpoint["output_checkpoint_dir"] = "/workspace/ckpt"
    if rng.random() < 0.3:
        checkpoint["input"] = {"id": rng.choice(CHECKPOINTS + ["ckpt-" + str(index % 50)]), "mount_path": "/workspace/init"}
    if checkpoint:
        template["checkpoint"] = checkpoint


@template_feature
def dist(rng: random.Random, index: int, template: dict, job_dir: Path) -> None:
    if rng.random() < 0.5:
        template["dist"] = _dist(rng, template["num_devices"])


@template_feature
def plugins(rng: random.Random, index: int, template: dict, job_dir: Path) -> None:
    plugin: dict[str, Any] = {}
    if rng.random() < 0.3:
        plugin["wandb"] = {"credential_id": "wandb-key"}
    if rng.random() < 0.1:
        plugin["slack"] = {"credential_id": "slack-token", "channel": "#training"}
    if plugin:
        template["plugin"] = plugin


@template_feature
def workspace(rng: random.Random, index: int, template: dict, job_dir: Path) -> None:
    """A quarter of the jobs carry their code: job_setting.workspace.path (issue 6)."""
    if not schema_knows("job_setting", "workspace", "path") or rng.random() >= 0.25:
        return
    src = job_dir / "src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "train.py").write_text(f"# job {index}\nimport torch\nprint('training', {index})\n", encoding="utf-8")
    (src / "requirements.txt").write_text("torch\nnumpy\n", encoding="utf-8")
    template["job_setting"]["workspace"]["path"] = "src"


@template_feature
def tuning(rng: random.Random, index: int, template: dict, job_dir: Path) -> None:
    """Hyperparameter tuning (issue 8): fill in once the schema has `tuning`."""
    if not schema_knows("tuning") or rng.random() >= 0.2:
        return
    docker = template["job_setting"]["docker"]
    suffix = " --lr ${trialParameters.learning_rate} --batch-size ${trialParameters.batch_size}\n"
    if isinstance(docker["command"], dict):
        docker["command"]["run"] = docker["command"]["run"].rstrip("\n") + suffix
    else:
        docker["command"] = docker["command"].rstrip("\n") + suffix
    template["tuning"] = {
        "objective": {"type": rng.choice(["maximize", "minimize"]), "metric": rng.choice(["accuracy", "f1"]),
                      "additional_metrics": ["loss"] if rng.random() < 0.5 else []},
        "algorithm": rng.choice(["random", "bayesianoptimization", "tpe"]),
        "max_trials": rng.choice([8, 12, 24, 48]),
        "parallel_trials": rng.choice([1, 2, 3, 4]),
        "parameters": {
            "learning_rate": {"type": "double", "min": 0.0001, "max": 0.01},
            "batch_size": {"type": "int", "min": 16, "max": 256},
        },
    }
    if not template["tuning"]["objective"]["additional_metrics"]:
        del template["tuning"]["objective"]["additional_metrics"]
    if "checkpoint" in template and "output_checkpoint_dir" in template["checkpoint"]:
        template["checkpoint"]["output_checkpoint_dir"] = "/workspace/ckpt/$KATIB_TRIAL_NAME"


def project_config() -> dict:
    return {
        "namespace": "ml-team",
        "registry": "registry.example.com/ml-team",
        "storage": {"class": "azurefile-csi-premium", "checkpoint_size": "200Gi", "data_size": "500Gi"},
        "datastores": {
            "imagenet-1k": {"claim": "imagenet", "sub_path": "ilsvrc2012"},
            "cifar-100": {"size": "1Gi"},
            "librispeech": {"claim": "speech-data", "sub_path": "librispeech"},
            "c4-en": {"size": "1Ti"},
        },
        "checkpoints": {
            "bert-base-pretrained": {"claim": "pretrained-models", "sub_path": "bert-base"},
            "llama-7b-base": {"claim": "pretrained-models", "sub_path": "llama-7b"},
        },
        "vms": {name: {"gpus": gpus, "gpu": "a100", "node_selector": {"example.com/pool": name}}
                for name, gpus in sorted(ONPREM.items())},
    }


class _Dumper(yaml.SafeDumper):
    """Block literals for multi-line strings, as people write commands."""


_Dumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))


def to_yaml(data: dict) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)


HEADER = "# Generated by benchmarks/generate.py (job {index}); a realistic PeriFlow job template.\n"


def generate(root: Path, n: int, seed: int = 0) -> list[Path]:
    """Write the monorepo under ``root`` (emptied first); return the template paths."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    rng = random.Random(seed)
    vms = vm_names(rng)
    (root / "pfgen.yaml").write_text("# Project settings for the benchmark monorepo.\n"
                                     + to_yaml(project_config()), encoding="utf-8")
    paths = []
    for index in range(n):
        team = TEAMS[index % len(TEAMS)]
        template = base_template(rng, index, vms)
        job_dir = root / "teams" / team / template["name"]
        job_dir.mkdir(parents=True, exist_ok=True)
        for feature in FEATURES:
            feature(rng, index, template, job_dir)
        path = job_dir / "pf-template.yml"
        path.write_text(HEADER.format(index=index) + to_yaml(template), encoding="utf-8")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="directory to (re)create")
    parser.add_argument("--n", type=int, default=1000, help="number of templates (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    paths = generate(args.root, args.n, args.seed)
    print(f"wrote {len(paths)} templates under {args.root}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

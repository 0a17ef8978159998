"""DDP smoke check: every rank joins the process group, all-reduces, reports.

Prints one line per rank:
  smoke rank=R local_rank=L world_size=W node_rank=N group_rank=G allreduce=S ok
where NODE_RANK is PeriFlow's variable (exported by the pod command) and
GROUP_RANK is torchrun's; both must agree. Test hooks (environment):
  SMOKE_FAIL_RANK=R  rank R exits 3 after joining (a failing rank)
  SMOKE_HANG=1       every rank waits forever after reporting (for Ctrl-C tests)
"""

import os
import sys
import time

import torch
import torch.distributed as dist


def say(line: str) -> None:
    # one write per line: the ranks of a node share one stdout
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> int:
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        backend, device = "nccl", torch.device("cuda", local_rank)
    else:
        backend, device = "gloo", torch.device("cpu")
    dist.init_process_group(backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    value = torch.tensor([rank + 1.0], device=device)
    dist.all_reduce(value)
    expected = world * (world + 1) / 2
    ckpt = os.environ.get("CKPT_DIR")
    if ckpt:
        with open(os.path.join(ckpt, f"rank-{rank}.txt"), "w") as fh:
            fh.write(f"{rank}\n")
    say(
        f"smoke rank={rank} local_rank={local_rank} world_size={world} "
        f"node_rank={os.environ.get('NODE_RANK')} group_rank={os.environ.get('GROUP_RANK')} "
        f"backend={backend} allreduce={value.item():g} {'ok' if value.item() == expected else 'MISMATCH'}"
    )
    if os.environ.get("SMOKE_FAIL_RANK") == str(rank):
        say(f"smoke rank={rank} failing on purpose")
        return 3
    if os.environ.get("SMOKE_HANG") == "1":
        say(f"smoke rank={rank} hanging")
        while True:
            time.sleep(1)
    dist.barrier()
    dist.destroy_process_group()
    return 0 if value.item() == expected else 1


if __name__ == "__main__":
    sys.exit(main())

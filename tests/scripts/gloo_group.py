"""Run check functions on every rank of a gloo process group spawned on this machine.

``run(checks, setup)`` reads the world size from ``sys.argv[1]``, spawns that many processes
(one intra-op thread each), runs ``setup()`` and then every check ``check(rank, world) -> list of
what was verified`` on each rank, and prints rank 0's list. A failing rank prints its traceback
and ends the whole group at once: the other ranks would otherwise wait on a collective forever.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

Check = Callable[[int, int], list[str]]


def _worker(
    rank: int, world: int, port: int, out: str, checks: Sequence[Check], setup: Callable[[], None]
) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        setup()
        done = []
        for check in checks:
            done += check(rank, world)
        if rank == 0:
            with open(out, "w", encoding="utf-8") as f:
                f.write("\n".join(done))
        dist.barrier()
    except Exception:
        traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _nothing() -> None:
    pass


def run(checks: Sequence[Check], setup: Callable[[], None] = _nothing) -> int:
    """Spawn the group, run the checks on every rank, print what rank 0 verified; 0 on success."""
    world = int(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "done.txt")
        mp.spawn(_worker, args=(world, _free_port(), out, checks, setup), nprocs=world, join=True)
        with open(out, encoding="utf-8") as f:
            print(f.read())
    print(f"world {world}: all ok")
    return 0

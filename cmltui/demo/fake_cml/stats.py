"""``system_stats`` and ``system_health`` bodies of a fake controller (CML 2.9 shapes, §3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

GIB = 1024**3
KIB_PER_GIB = 1024 * 1024
#: Simulated resources of one compute host and what each running node takes.
COMPUTE_MEMORY_BYTES = 64 * GIB
COMPUTE_DISK_BYTES = 200 * GIB
COMPUTE_CPUS = 16
NODE_MEMORY_GIB = 2
NODE_CPU_PERCENT = 2.5


def _hostname(index: int) -> str:
    return "cml-controller" if index == 0 else f"cml-compute-{index}"


def system_stats(
    compute_ids: Sequence[str],
    cpu_noise: Sequence[float],
    memory_noise_gib: Sequence[float],
    running: Sequence[int],
    defined: Sequence[int],
) -> dict[str, Any]:
    """Per compute: CPU and memory follow its running nodes (plus noise), disk its defined
    nodes; ``all`` sums them (average percent); ``controller.disk`` is the first compute's.
    Bytes for memory and disk, KiB for ``allocated_memory``."""
    computes: dict[str, Any] = {}
    totals = {"memory": [0, 0, 0], "disk": [0, 0, 0]}
    percents: list[float] = []
    for index, compute_id in enumerate(compute_ids):
        percent = round(min(cpu_noise[index] + running[index] * NODE_CPU_PERCENT, 100.0), 2)
        percents.append(percent)
        mem_used = int(
            min(
                (memory_noise_gib[index] + running[index] * NODE_MEMORY_GIB) * GIB,
                COMPUTE_MEMORY_BYTES,
            )
        )
        disk_used = (20 + defined[index]) * GIB
        memory = {
            "total": COMPUTE_MEMORY_BYTES,
            "free": COMPUTE_MEMORY_BYTES - mem_used,
            "used": mem_used,
        }
        disk = {
            "total": COMPUTE_DISK_BYTES,
            "free": COMPUTE_DISK_BYTES - disk_used,
            "used": disk_used,
        }
        for name, values in (("memory", memory), ("disk", disk)):
            totals[name][0] += values["total"]
            totals[name][1] += values["free"]
            totals[name][2] += values["used"]
        load = round(percent * COMPUTE_CPUS / 100.0, 2)
        computes[compute_id] = {
            "hostname": _hostname(index),
            "is_controller": index == 0,
            "stats": {
                "cpu": {
                    "count": COMPUTE_CPUS,
                    "percent": percent,
                    "model": "Intel(R) Xeon(R) Platinum 8124M CPU @ 3.00GHz",
                    "predicted": COMPUTE_CPUS,
                    "load": [load, round(load * 0.9, 2), round(load * 0.8, 2)],
                },
                "memory": memory,
                "disk": disk,
                "dominfo": {
                    "allocated_cpus": running[index],
                    "allocated_memory": running[index] * NODE_MEMORY_GIB * KIB_PER_GIB,
                    "total_nodes": defined[index],
                    "total_orphans": 0,
                    "running_nodes": running[index],
                    "running_orphans": 0,
                },
            },
        }
    controller_disk = computes[compute_ids[0]]["stats"]["disk"]

    def triple(name: str) -> dict[str, int]:
        total, free, used = totals[name]
        return {"total": total, "free": free, "used": used}

    return {
        "computes": computes,
        "all": {
            "cpu": {
                "count": COMPUTE_CPUS * len(compute_ids),
                "percent": round(sum(percents) / len(percents), 2),
            },
            "memory": triple("memory"),
            "disk": triple("disk"),
        },
        "controller": {"disk": dict(controller_disk)},
    }


def system_health(compute_ids: Sequence[str], *, ready: bool, licensed: bool) -> dict[str, Any]:
    computes = {
        compute_id: {
            "hostname": _hostname(index),
            "is_controller": index == 0,
            "admission_state": "READY" if ready else "ONLINE",
            "kvm_vmx_enabled": True,
            "enough_cpus": True,
            "lld_connected": ready,
            "lld_synced": ready,
            "libvirt": True,
            "fabric": True,
            "device_mux": True,
            "refplat_images_available": True,
            "docker_shim": True,
            "valid": ready,
        }
        for index, compute_id in enumerate(compute_ids)
    }
    return {
        "valid": ready,
        "is_licensed": licensed,
        "is_enterprise": True,
        "controller": {
            "core_connected": True,
            "nodes_loaded": ready,
            "images_loaded": ready,
            "valid": ready,
        },
        "computes": computes,
    }


def compute_hosts(
    compute_ids: Sequence[str],
    node_ids: Sequence[Sequence[str]],
    running: Sequence[int],
    *,
    ready: bool,
) -> list[dict[str, Any]]:
    """``GET system/compute_hosts`` (2.9 ``ComputeHostBase``): where 2.9 reports
    ``node_counts`` (running and total nodes per compute host, beside the older ``nodes``)."""
    return [
        {
            "id": compute_id,
            "hostname": _hostname(index),
            "server_address": f"192.168.255.{index + 1}",
            "is_simulator": True,
            "is_connector": index == 0,
            "is_connected": True,
            "is_synced": ready,
            "admission_state": "READY" if ready else "ONLINE",
            "nodes": list(node_ids[index]),
            "node_counts": {
                "total_nodes": len(node_ids[index]),
                "total_orphans": 0,
                "running_nodes": running[index],
                "running_orphans": 0,
            },
        }
        for index, compute_id in enumerate(compute_ids)
    ]

"""The INT4 kernels one by one, on a 7B Llama's weight shapes: ``int4_cuda``'s CUDA kernels and
``int4_triton``'s Triton kernels beside tinygemm (``aten._weight_int4pack_mm``), Marlin (``int4_marlin``,
on the symmetric quantization of the same weight, fp16 activations) and a bf16 product (cuBLAS), each on
the same random weight,
timed by ``triton.testing.do_bench_cudagraph`` (replays of a captured graph, so the host's launch cost,
which a decoding step replayed as a graph never pays, stays out; median) in one run.

For each shape and row count: microseconds, the bytes each must read (weights and scales) over that
time, and the ratio to bf16. At one row a product only reads its weight, so GB/s against the copy
bandwidth measured here says how close a kernel is to the memory's limit.

    python benchmarks/int4_kernels.py [--rows 1,16,512] [--group 128]

``--sweep`` times the CUDA GEMV alone at each launch configuration it builds (``int4_cuda.launch_config``
holds the fastest per shape).

``--profile`` times nothing: it tunes the one-row kernel on each shape, then runs it once per shape inside
an NVTX range named "profile", for Nsight Compute:

    ncu --clock-control none --nvtx --nvtx-include "profile/" --set full python benchmarks/int4_kernels.py --profile
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SHAPES = {"q/k/v/o 4096x4096": (4096, 4096), "gate/up 11008x4096": (11008, 4096),
          "down 4096x11008": (4096, 11008), "head 32000x4096": (32000, 4096),
          "q+k+v 12288x4096": (12288, 4096), "gate+up 22016x4096": (22016, 4096)}  # the last two: stacked siblings


def time_shape(label: str, n: int, k: int, rows_list: list[int], group: int) -> list[str]:
    """One weight shape at each row count; every timed call runs over ``copies`` different weights (together
    over 256 MB, five times the H200's L2), so the bytes come from memory, as a model's do."""
    import math

    import torch
    import triton.testing

    from compressors.kernels.int4_cuda import Int4CudaLinear, int4_cuda_matmul
    from compressors.kernels.int4_marlin import MarlinLinear, marlin_matmul
    from compressors.kernels.int4_triton import int4_matmul, pack, triton_kernels
    from compressors.methods.torchao_gpu_tensors import int4_components, int4_weight

    copies = max(2, math.ceil(2**28 / (n * k // 2)))
    weights = [torch.randn(n, k, device="cuda").to(torch.bfloat16) for _ in range(copies)]
    stored = [int4_components(w, group) for w in weights]
    parts = [pack(p) for p in stored]
    packed = [int4_weight(p, (n, k), group) for p in stored]
    marlin = [MarlinLinear(int4_components(w, group, symmetric=True), (n, k), group) for w in weights]
    cuda = [Int4CudaLinear(p, (n, k), group) for p in stored]
    cuda_bytes = sum(t.numel() * t.element_size() for t in (cuda[0].weight, cuda[0].scale_zero))
    marlin_bytes = sum(t.numel() * t.element_size() for t in (marlin[0].weight, marlin[0].scale))
    int4_bytes = sum(t.numel() * t.element_size() for t in parts[0].values())
    lines = []
    for rows in rows_list:
        x = torch.randn(rows, k, device="cuda").to(torch.bfloat16)
        reference = x.float() @ weights[0].float().T
        q, s, z = parts[0]["words"], parts[0]["scale"], parts[0]["zero_point"]
        error = float((int4_matmul(x, q, s, z, group).float() - reference).norm() / reference.norm())
        x16 = x.to(torch.float16)
        marlin_error = float((marlin_matmul(x16, marlin[0].weight, marlin[0].scale, marlin[0].workspace).float()
                              - reference).norm() / reference.norm())
        c = cuda[0]
        cuda_error = float((int4_cuda_matmul(x16, c.weight, c.scale_zero, group, c.zero).float()
                            - reference).norm() / reference.norm())
        runs = (lambda x=x: [x @ w.T for w in weights],
                lambda x=x: [int4_matmul(x, p["words"], p["scale"], p["zero_point"], group) for p in parts],
                lambda x=x: [torch.nn.functional.linear(x, w) for w in packed],
                lambda x=x16: [marlin_matmul(x, m.weight, m.scale, m.workspace) for m in marlin],
                lambda x=x16 if rows <= 8 else x: [int4_cuda_matmul(x, c.weight, c.scale_zero, group, c.zero)
                                                    for c in cuda])
        bf16, ours, tiny, marl, cu = (triton.testing.do_bench_cudagraph(fn, return_mode="median") * 1e-3 / copies
                                  for fn in runs)
        kernel = triton_kernels()["gemv" if rows == 1 else "gemm"]
        config = getattr(kernel, "best_config", None) if rows <= 16 else "dequantize + aten::mm"
        lines.append(f"{label:<20}{rows:>5}{bf16 * 1e6:>9.1f}{n * k * 2 / bf16 / 1e9:>7.0f}"
                     f"{ours * 1e6:>10.1f}{int4_bytes / ours / 1e9:>7.0f}{bf16 / ours:>7.2f}"
                     f"{tiny * 1e6:>12.1f}{int4_bytes / tiny / 1e9:>7.0f}{bf16 / tiny:>7.2f}"
                     f"{marl * 1e6:>10.1f}{marlin_bytes / marl / 1e9:>7.0f}{bf16 / marl:>7.2f}"
                     f"{cu * 1e6:>9.1f}{cuda_bytes / cu / 1e9:>7.0f}{bf16 / cu:>7.2f}  {config} "
                     f"(error vs float32: triton {error:.4f}, cuda {cuda_error:.4f}, Marlin's symmetric "
                     f"{marlin_error:.4f})")
    return lines


def sweep(group: int, rows_list: list[int]) -> int:
    """The CUDA GEMV alone at each outputs-per-warp setting, per shape and row count (asymmetric weights)."""
    import math

    import torch
    import triton.testing

    from compressors.kernels.int4_cuda import gemv, launch_configs, pack
    from compressors.methods.torchao_gpu_tensors import int4_components

    print("GEMV microseconds (GB/s) at each (outputs per warp, loads in flight per output)")
    for label, (n, k) in SHAPES.items():
        copies = max(2, math.ceil(2**28 / (n * k // 2)))
        parts = [pack(int4_components(torch.randn(n, k, device="cuda").to(torch.bfloat16), group))
                 for _ in range(copies)]
        size = sum(t.numel() * t.element_size() for t in parts[0].values())
        for rows in rows_list:
            x = torch.randn(rows, k, device="cuda").to(torch.float16)
            line = f"{label:<20}{rows:>5}"
            for config in launch_configs(rows):
                def run(config=config, x=x, parts=parts):
                    return [gemv(x, p["weight"], p["scale_zero"], group, True, config) for p in parts]
                t = triton.testing.do_bench_cudagraph(run, return_mode="median") * 1e-3 / copies
                line += f"  {config}: {t * 1e6:.1f} ({size / t / 1e9:.0f})"
            print(line, flush=True)
        parts = []
        torch.cuda.empty_cache()
    return 0


def profile(group: int) -> int:
    """The one-row kernel once per shape, tuned beforehand, inside the NVTX range "profile"."""
    import torch

    from compressors.kernels.int4_triton import int4_matmul, pack, triton_kernels
    from compressors.methods.torchao_gpu_tensors import int4_components

    calls = []
    for n, k in SHAPES.values():
        p = pack(int4_components(torch.randn(n, k, device="cuda").to(torch.bfloat16), group))
        x = torch.randn(1, k, device="cuda").to(torch.bfloat16)
        int4_matmul(x, p["words"], p["scale"], p["zero_point"], group)  # tunes
        calls.append((x, p, triton_kernels()["gemv"].best_config))
    torch.cuda.synchronize()
    torch.cuda.nvtx.range_push("profile")
    for x, p, _ in calls:
        int4_matmul(x, p["words"], p["scale"], p["zero_point"], group)
    torch.cuda.synchronize()
    torch.cuda.nvtx.range_pop()
    for (label, _), (_, _, config) in zip(SHAPES.items(), calls):
        print(f"{label}: {config}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1,2,16,512")
    parser.add_argument("--group", type=int, default=128)
    parser.add_argument("--profile", action="store_true", help="run the one-row kernel once per shape for ncu")
    parser.add_argument("--sweep", action="store_true", help="time the CUDA GEMV at each outputs-per-warp setting")
    args = parser.parse_args()

    import torch
    import triton

    from pytest_compressgate.decoding import copy_bandwidth

    if not torch.cuda.is_available():
        print("needs a CUDA GPU")
        return 2
    if args.profile:
        return profile(args.group)
    if args.sweep:
        return sweep(args.group, [int(r) for r in args.rows.split(",")])
    bandwidth = copy_bandwidth("cuda", gib=4.0)
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, triton {triton.__version__}; "
          f"copy bandwidth {bandwidth / 1e12:.2f} TB/s; group {args.group}")
    print(f"{'shape':<20}{'rows':>5}{'bf16 us':>9}{'GB/s':>7}{'triton us':>10}{'GB/s':>7}{'x bf16':>7}"
          f"{'tinygemm us':>12}{'GB/s':>7}{'x bf16':>7}{'marlin us':>10}{'GB/s':>7}{'x bf16':>7}"
          f"{'cuda us':>9}{'GB/s':>7}{'x bf16':>7}  triton config")
    for label, (n, k) in SHAPES.items():
        for line in time_shape(label, n, k, [int(r) for r in args.rows.split(",")], args.group):
            print(line, flush=True)
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

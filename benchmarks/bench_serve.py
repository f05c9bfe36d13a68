"""Load test of ``zoo serve``: concurrent clients clicking, and memory over many images.

Starts the real server (``zoo serve sam2:tiny --weights random``) on a free loopback port
and talks to it over HTTP from this process only (127.0.0.1; every count and the total
time are bounded). Two phases:

1. **Clicks.** ``--clients N`` (each a thread with its own connection) upload a different
   photo each, make one click to get the embedding computed, wait for each other, then
   click ``--clicks`` times (random points, ``--think-ms`` pause between a client's clicks:
   a person needs a moment to look at a mask before the next click; ``0`` is the closed-loop
   capacity test). Reported: click-to-mask latency p50/p95/p99 (request sent -> JSON
   parsed), throughput, errors, server RSS. The same click through the Python API
   (``model.segment`` + ``to_coco``, this process, same image) is measured first as the
   baseline the server adds to.
2. **Memory.** ``--images`` different photos, one upload + one click each, against a server
   started with ``--max-images 16``: RSS sampled as it goes; flat means the LRU frees what
   it evicts.

Goals (issue 13, this 2-core CPU machine, ``sam2:tiny``): p50 <= 150 ms at 4 clients after
embedding, 0 errors, RSS flat over 200 images with ``--max-images 16``.

Run: ``.venv/bin/python benchmarks/bench_serve.py [--clients 1,4] [--think-ms 0,500]
[--images 200] [--image-size 1024] [--time-limit 3600]``.
"""

from __future__ import annotations

import argparse
import io
import os
import queue
import re
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO.parent / "shared" / "fixtures" / "images" / "truck.jpg"
MAX_CLIENTS = 16
MAX_IMAGES = 1000


# ---------------------------------------------------------------------------- server


@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str
    log: list[str] = field(default_factory=list)

    def rss_mb(self) -> float:
        """Resident memory of the server process (Linux /proc), in MB."""
        try:
            text = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return float("nan")
        m = re.search(r"VmRSS:\s+(\d+) kB", text)
        return int(m.group(1)) / 1024 if m else float("nan")

    def stop(self) -> None:
        import signal

        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_server(image_size: int | None, max_images: int, timeout: float = 600) -> Server:
    cmd = [
        sys.executable, "-m", "zoo", "serve", "sam2:tiny", "--weights", "random",
        "--device", "cpu", "--host", "127.0.0.1", "--port", "0",
        "--max-images", str(max_images),
    ]  # fmt: skip
    if image_size:
        cmd += ["--image-size", str(image_size)]
    env = {**os.environ, "ZOO_PLUGINS": "sam2", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    log: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        log.append(line)
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+/)", line)
        if m:
            return Server(proc, m.group(1), log)
    proc.kill()
    raise SystemExit("zoo serve did not start:\n" + "".join(log))


# ---------------------------------------------------------------------------- inputs


def photo_variant(base: np.ndarray, k: int) -> bytes:
    """A different image per k (shifted, tinted): a new image_id, the same difficulty."""
    from PIL import Image

    img = np.roll(base, shift=(7 * k) % base.shape[1], axis=1).astype(np.int16)
    img[..., k % 3] += (k * 37) % 50 - 25
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


# ---------------------------------------------------------------------------- phase 1


def baseline_click_ms(base: np.ndarray, image_size: int | None, clicks: int) -> float:
    """The Python API's click on the same photo: ``segment`` + ``to_coco`` (what the
    server must do anyway), median ms."""
    import zoo

    kw = {"image_size": image_size} if image_size else {}
    model = zoo.load("sam2:tiny", weights="random", device="cpu", progress=False, **kw)
    model.set_image(base)
    rng = np.random.default_rng(0)
    h, w = base.shape[:2]
    times = []
    for i in range(clicks + 3):  # the first clicks warm up allocators; not counted
        pt = [[float(rng.uniform(0, w)), float(rng.uniform(0, h))]]
        t0 = time.perf_counter()
        model.segment(None, {"points": pt, "labels": [1]}).to_coco(1)
        if i >= 3:
            times.append((time.perf_counter() - t0) * 1e3)
    del model
    return statistics.median(times)


def click_phase(
    server: Server, base: np.ndarray, clients: int, clicks: int, think_ms: float, deadline: float
) -> dict[str, Any]:
    import httpx

    h, w = base.shape[:2]
    latencies: list[float] = []
    decode: list[float] = []  # model time under the lock (the server's timing_ms)
    waited: list[float] = []  # time queued for the model lock
    errors: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1)
    go = threading.Event()

    def client(k: int) -> None:
        rng = np.random.default_rng(100 + k)
        with httpx.Client(base_url=server.url, timeout=600) as c:
            try:
                up = c.post("/v1/images", files={"file": (f"p{k}.jpg", photo_variant(base, k))})
                iid = up.json()["image_id"]
                first = c.post(
                    "/v1/segment",
                    json={"model": "sam2:tiny", "image_id": iid,
                          "prompts": [{"points": [[w / 2, h / 2]], "labels": [1]}]},
                )  # fmt: skip
                if first.status_code != 200:
                    raise RuntimeError(first.text)
            except Exception as exc:
                with lock:
                    errors.append(f"setup: {exc}")
                ready.wait()
                return
            ready.wait()
            go.wait()
            for _ in range(clicks):
                if time.monotonic() > deadline:
                    return
                pt = [float(rng.uniform(0, w)), float(rng.uniform(0, h))]
                body = {"model": "sam2:tiny", "image_id": iid,
                        "prompts": [{"points": [pt], "labels": [1]}]}  # fmt: skip
                t0 = time.perf_counter()
                try:
                    r = c.post("/v1/segment", json=body)
                    data = r.json()
                    ok = r.status_code == 200 and len(data["annotations"]) == 1
                except Exception as exc:
                    ok, data = False, {"error": str(exc)}
                ms = (time.perf_counter() - t0) * 1e3
                with lock:
                    if ok:
                        latencies.append(ms)
                        decode.append(data["timing_ms"]["decode"])
                        waited.append(data["timing_ms"]["wait"])
                    else:
                        errors.append(str(data)[:200])
                if think_ms:
                    time.sleep(think_ms / 1e3)

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    ready.wait()  # every client has uploaded and embedded
    rss_before = server.rss_mb()
    t0 = time.perf_counter()
    go.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    return {
        "clients": clients,
        "think_ms": think_ms,
        "clicks": len(latencies),
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "clicks_per_s": len(latencies) / elapsed if elapsed else float("nan"),
        "decode_p50_ms": percentile(decode, 50),
        "lock_wait_p50_ms": percentile(waited, 50),
        "overhead_p50_ms": percentile(
            [lat - d - q for lat, d, q in zip(latencies, decode, waited, strict=True)], 50
        ),
        "errors": len(errors),
        "rss_mb": server.rss_mb(),
        "rss_before_mb": rss_before,
        "first_error": errors[0] if errors else "",
    }


# ---------------------------------------------------------------------------- phase 2


def memory_phase(server: Server, base: np.ndarray, images: int, deadline: float) -> dict[str, Any]:
    import httpx

    h, w = base.shape[:2]
    samples: list[tuple[int, float]] = []
    errors = 0
    with httpx.Client(base_url=server.url, timeout=600) as c:
        for k in range(images):
            if time.monotonic() > deadline:
                break
            try:
                up = c.post(
                    "/v1/images", files={"file": (f"m{k}.jpg", photo_variant(base, 1000 + k))}
                )
                r = c.post(
                    "/v1/segment",
                    json={"model": "sam2:tiny", "image_id": up.json()["image_id"],
                          "prompts": [{"points": [[w / 3, h / 3]], "labels": [1]}]},
                )  # fmt: skip
                errors += r.status_code != 200
            except Exception:
                errors += 1
            if (k + 1) % 10 == 0 or k in (0, images - 1):
                samples.append((k + 1, server.rss_mb()))
                print(f"  memory: {k + 1} images, server RSS {samples[-1][1]:.0f} MB", flush=True)
        health = c.get("/healthz").json()
    done = samples[-1][0] if samples else 0

    def at(n: int) -> float:
        return next((rss for k, rss in samples if k >= n), float("nan"))

    warm = at(50)
    return {
        "images": done,
        "errors": errors,
        "rss_after_16_mb": at(16),
        "rss_after_50_mb": warm,
        "rss_after_100_mb": at(100),
        "rss_final_mb": samples[-1][1] if samples else float("nan"),
        "growth_after_50_pct": (samples[-1][1] / warm - 1) * 100
        if samples and warm
        else float("nan"),
        "cache_images": health["cache"]["kinds"].get("image", {}).get("items"),
        "cache_mb": health["cache"]["bytes"] / 1e6,
        "evictions": health["cache"]["evictions"],
        "embeddings_computed": health["counters"]["embeddings_computed"],
    }


# ---------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", default="1,4", help="comma list of concurrent clients")
    ap.add_argument("--think-ms", default="0,500", help="comma list of pauses between clicks")
    ap.add_argument("--clicks", type=int, default=20)
    ap.add_argument("--images", type=int, default=200, help="memory phase (0: skip)")
    ap.add_argument("--image-size", type=int, default=None, help="model input side (default 1024)")
    ap.add_argument("--photo", type=Path, default=PHOTO)
    ap.add_argument("--time-limit", type=float, default=3600, help="seconds for everything")
    args = ap.parse_args()
    clients = [int(c) for c in args.clients.split(",") if c]
    thinks = [float(t) for t in args.think_ms.split(",") if t]
    if any(c < 1 or c > MAX_CLIENTS for c in clients):
        raise SystemExit(f"--clients must be 1..{MAX_CLIENTS}")
    if not 0 <= args.images <= MAX_IMAGES or not 1 <= args.clicks <= 200:
        raise SystemExit(f"--images 0..{MAX_IMAGES}, --clicks 1..200")
    deadline = time.monotonic() + args.time_limit

    from zoo.io.images import load_image

    base = load_image(args.photo)
    load = os.getloadavg()
    print(f"photo {args.photo.name} {base.shape[1]}x{base.shape[0]}, load average {load[0]:.1f}")
    baseline = float("nan")
    if clients:
        baseline = baseline_click_ms(base, args.image_size, args.clicks)
        print(f"in-process click (segment + to_coco): {baseline:.0f} ms")

    rows: list[dict[str, Any]] = []
    server = start_server(args.image_size, max_images=16) if clients else None
    try:
        for think in thinks if server else []:
            for n in clients:
                row = click_phase(server, base, n, args.clicks, think, deadline)
                row["in_process_ms"] = baseline
                rows.append(row)
                print(
                    f"  {n} clients, think {think:.0f} ms: p50 {row['p50_ms']:.0f} ms, "
                    f"p95 {row['p95_ms']:.0f}, {row['clicks_per_s']:.2f} clicks/s, "
                    f"{row['errors']} errors",
                    flush=True,
                )
    finally:
        if server is not None:
            server.stop()
    memory: dict[str, Any] = {}
    if args.images:
        server = start_server(args.image_size, max_images=16)
        try:
            memory = memory_phase(server, base, args.images, deadline)
        finally:
            server.stop()
    report(
        "bench_serve" if rows else "bench_serve_memory",
        [{k: v for k, v in r.items() if k != "first_error"} for r in rows] or [memory],
        meta={
            "photo": args.photo.name,
            "image_size": args.image_size or 1024,
            "clicks_per_client": args.clicks,
            "load_average_at_start": load,
            "in_process_click_ms": baseline,
            "memory_phase": memory,
            "first_errors": [r["first_error"] for r in rows if r["first_error"]],
        },
    )
    if memory:
        print("\nmemory phase (--max-images 16):")
        for k, v in memory.items():
            print(f"  {k}: {v:.4g}" if isinstance(v, float) else f"  {k}: {v}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

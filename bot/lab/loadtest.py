"""Load test of a running FaRun server: many clients POST /api/ask (or, with --endpoint chat,
the OpenAI-compatible /v1/chat/completions) at once.

    python -m bot.lab.loadtest --url http://127.0.0.1:7860 --clients 50 --seconds 60
    python -m bot.lab.loadtest --endpoint chat --clients 1 --seconds 20

asyncio + httpx; each client sends one question after another (rotating through QUESTIONS) until
the time is up or --max-requests have been sent in total. Loopback only: a URL that does not
point at this machine is refused, so the script cannot be turned on someone else's server.
Reports throughput, latency percentiles (p50/p95/p99) and errors by kind; --json for a machine-
readable line. Start the server with FARUN_RATE_LIMIT=0, or every client shares one limit.
"""
from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import socket
import sys
import time
from collections import Counter
from urllib.parse import urlparse

QUESTIONS = [
    "公司不跟我签劳动合同怎么办",
    "老板拖欠工资三个月了怎么办",
    "试用期被辞退有补偿吗",
    "网购的东西七天内能无理由退货吗",
    "房东不退押金怎么办",
    "加班不给加班费合法吗",
    "离婚时孩子抚养权怎么判",
    "借钱不还打了欠条怎么起诉",
    "买到假货可以要求几倍赔偿",
    "被公司违法解除劳动合同能拿多少赔偿",
    "邻居家漏水把我家泡了谁负责",
    "交通事故对方全责不赔钱怎么办",
]


# what each endpoint is sent for a question
ENDPOINTS = {
    "ask": ("/api/ask", lambda q: {"question": q}),
    "chat": ("/v1/chat/completions", lambda q: {"model": "farun-resident", "messages": [{"role": "user", "content": q}]}),
}


def loopback_only(url: str) -> str:
    """The URL, if its host is this machine's loopback (127.0.0.0/8, ::1, localhost); else ValueError."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"不是有效的 http(s) 地址：{url}")
    host = parsed.hostname
    try:
        addresses = {ipaddress.ip_address(host)}
    except ValueError:
        if host != "localhost":
            raise ValueError(f"只允许压测本机（127.0.0.1 / ::1 / localhost），拒绝 {host}") from None
        addresses = {ipaddress.ip_address(a[4][0]) for a in socket.getaddrinfo(host, None)}
    if not all(a.is_loopback for a in addresses):
        raise ValueError(f"只允许压测本机（127.0.0.1 / ::1 / localhost），拒绝 {host}")
    return url.rstrip("/")


def percentile(sorted_ms: list[float], p: float) -> float:
    if not sorted_ms:
        return 0.0
    i = min(len(sorted_ms) - 1, max(0, round(p / 100 * len(sorted_ms) + 0.5) - 1))  # nearest rank
    return sorted_ms[i]


async def run(url: str, clients: int, seconds: float, max_requests: int, timeout: float,
              endpoint: str = "ask", api_key: str = "") -> dict:
    import httpx

    path, body = ENDPOINTS[endpoint]
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    deadline = time.monotonic() + seconds
    latencies: list[float] = []
    errors: Counter = Counter()
    sent = 0

    async def client(i: int, http: httpx.AsyncClient) -> None:
        nonlocal sent
        n = i
        while time.monotonic() < deadline and sent < max_requests:
            sent += 1
            question = QUESTIONS[n % len(QUESTIONS)]
            n += clients
            t = time.perf_counter()
            try:
                r = await http.post(f"{url}{path}", json=body(question), headers=headers)
                if r.status_code == 200:
                    latencies.append((time.perf_counter() - t) * 1000)
                else:
                    errors[f"http_{r.status_code}"] += 1
            except httpx.TimeoutException:
                errors["timeout"] += 1
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    start = time.monotonic()
    async with httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False) as http:
        await asyncio.gather(*(client(i, http) for i in range(clients)))
    elapsed = time.monotonic() - start
    ms = sorted(latencies)
    return {"url": url, "endpoint": path, "clients": clients, "seconds": round(elapsed, 1), "requests": sent, "ok": len(ms),
            "errors": dict(errors), "throughput_rps": round(len(ms) / elapsed, 2) if elapsed else 0.0,
            "p50_ms": round(percentile(ms, 50), 1), "p95_ms": round(percentile(ms, 95), 1),
            "p99_ms": round(percentile(ms, 99), 1), "max_ms": round(ms[-1], 1) if ms else 0.0}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bot.lab.loadtest", description="压测本机运行的法润服务（POST /api/ask 或 /v1/chat/completions）")
    p.add_argument("--url", default="http://127.0.0.1:7860", help="服务地址（只允许本机）")
    p.add_argument("--clients", type=int, default=50, help="并发客户端数（1–500）")
    p.add_argument("--seconds", type=float, default=60, help="持续时间（秒，最多 600）")
    p.add_argument("--max-requests", type=int, default=100_000, help="总请求数上限")
    p.add_argument("--timeout", type=float, default=120, help="单个请求的超时（秒）")
    p.add_argument("--endpoint", choices=sorted(ENDPOINTS), default="ask",
                   help="ask：POST /api/ask；chat：POST /v1/chat/completions（OpenAI 兼容）")
    p.add_argument("--api-key", default="", help="chat：FARUN_API_KEYS 中的一个（服务要求时）")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    try:
        url = loopback_only(args.url)
    except ValueError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    if not (1 <= args.clients <= 500 and 0 < args.seconds <= 600 and args.max_requests >= 1):
        print("错误：--clients 须在 1–500，--seconds 须在 0–600，--max-requests ≥ 1", file=sys.stderr)
        return 2
    result = asyncio.run(run(url, args.clients, args.seconds, args.max_requests, args.timeout, args.endpoint,
                             args.api_key))
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(f"{result['url']}{result['endpoint']}  {result['clients']} 个客户端，{result['seconds']} 秒")
        print(f"请求 {result['requests']}，成功 {result['ok']}，错误 {sum(result['errors'].values())} {result['errors'] or ''}")
        print(f"吞吐 {result['throughput_rps']} 次/秒；延迟 p50 {result['p50_ms']} ms，p95 {result['p95_ms']} ms，"
              f"p99 {result['p99_ms']} ms，最大 {result['max_ms']} ms")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

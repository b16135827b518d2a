"""Drive the API with wrk (a C load generator: it costs far less CPU than the server it loads) and
one Lua script, bench/throughput/lua/scenario.lua, that makes every money-moving request unique."""

import json
import os
import shutil
import subprocess
from pathlib import Path

LUA_SCRIPT = Path(__file__).resolve().parent / "lua" / "scenario.lua"
RESULT_MARK = "WRK_RESULT "


def ensure_wrk() -> str:
    """Return wrk's path; install Debian's package when it is missing and we may (root with apt-get)."""
    found = shutil.which("wrk")
    if found:
        return found
    apt_get = shutil.which("apt-get")
    if os.geteuid() == 0 and apt_get:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = [apt_get, "install", "-y", "-qq", "--no-install-recommends", "wrk"]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run([apt_get, "update", "-qq"], env=env, capture_output=True)
            subprocess.run(install, env=env, capture_output=True)
        found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    return found


def wrk_version(wrk: str) -> str:
    result = subprocess.run([wrk, "--version"], capture_output=True, text=True)
    return (result.stdout + result.stderr).splitlines()[0].split(" [")[0] if (result.stdout + result.stderr) else "wrk"


def lua_literal(value) -> str:
    """Render JSON-like data as a Lua expression; strings as long brackets, which take any text verbatim."""
    if isinstance(value, dict):
        return "{" + ",".join(f"[{json.dumps(k)}]={lua_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "{" + ",\n".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if "]==]" in text:
        raise ValueError(f"unsupported string for the Lua data file: {text!r}")
    return f"[==[{text}]==]"


def write_data(path: Path, data: dict) -> Path:
    path.write_text("return " + lua_literal(data) + "\n")
    return path


def run(*, wrk: str, url: str, mode: str, data_file: Path, run_id: str, connections: int, seconds: float,
        one_thread_per_connection: bool = False) -> dict:
    """Run wrk once for `seconds`; return requests/s (2xx only), latency percentiles and error counts.

    `captured` counts the hold_capture mode's successful captures (0 in any other mode).
    """
    threads = connections if one_thread_per_connection else min(2, connections)
    command = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
               "--timeout", "30s", "-s", str(LUA_SCRIPT), url, "--", mode, str(data_file), run_id, str(threads)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 90)
    lines = [line for line in result.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    raw = json.loads(lines[-1][len(RESULT_MARK):])
    statuses = {int(status): count for status, count in raw["statuses"].items()}
    ok = sum(count for status, count in statuses.items() if 200 <= status < 300)
    seconds_measured = raw["duration_us"] / 1e6
    socket_errors = sum(raw["socket_errors"].values())
    return {
        "requests": raw["requests"],
        "ok": ok,
        "rps": ok / seconds_measured if seconds_measured else 0.0,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "mean_ms": raw["mean_us"] / 1000,
        "statuses": statuses,
        "replayed": raw["replayed"],
        "captured": raw["captured"],
        "seconds": seconds_measured,
        "errors": raw["requests"] - ok + socket_errors,
        "socket_errors": raw["socket_errors"],
    }

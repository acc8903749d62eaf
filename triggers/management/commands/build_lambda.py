"""Build the Lambda deployment package: dependencies for the Lambda runtime, our code, static files.

    python manage.py build_lambda            # -> build/gatehouse-lambda.zip, size printed

One zip serves the three functions in deploy/template.yaml (triggers, admin, drain): they
differ only in handler and settings module. Dependencies come from requirements.txt only
(never requirements-dev.txt), as manylinux wheels for the runtime's Python and architecture,
so the build works from any machine. Static files are collected with the production storage
(hashed, compressed names and the manifest WhiteNoise serves from).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

# Lambda's limits for a function's code: 50 MB zipped (direct upload), 250 MB unzipped.
ZIPPED_LIMIT = 50 * 1024 * 1024
UNZIPPED_LIMIT = 250 * 1024 * 1024
# Inside our own folders: what never ships.
EXCLUDED_DIRS = frozenset({"__pycache__", "tests", "node_modules"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
# A fixed time for every zip entry: the same inputs give the same zip.
ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def source_roots(base_dir: Path) -> list[str]:
    """Our top-level folders that ship: the project package, local apps, project templates."""
    local_apps = [
        app.split(".")[0] for app in settings.INSTALLED_APPS if (base_dir / app.split(".")[0]).is_dir()
    ]
    # core is plain helpers (no app), imported by every layer.
    roots = ["backoffice", "core", *local_apps, "templates"]
    return sorted({root for root in roots if (base_dir / root).is_dir()})


def source_files(base_dir: Path) -> Iterator[Path]:
    """Every file of ours the functions need, relative to base_dir (no tests, caches, .env)."""
    for root in source_roots(base_dir):
        for path in sorted((base_dir / root).rglob("*")):
            relative = path.relative_to(base_dir)
            if any(part in EXCLUDED_DIRS or part.startswith(".") for part in relative.parts):
                continue
            if path.is_file() and not path.name.endswith(EXCLUDED_SUFFIXES):
                yield relative


def pip_install_command(*, requirements: Path, target: Path, python_version: str, platform: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--quiet",
        "--requirement",
        str(requirements),
        "--target",
        str(target),
        # Wheels built for Lambda's Amazon Linux, whatever machine builds the package.
        "--platform",
        platform,
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        "--only-binary=:all:",
        "--upgrade",
        # Bytecode is compiled afterwards, in a form that survives the zip (see _compile).
        "--no-compile",
    ]


def write_zip(staging: Path, output: Path) -> tuple[int, int]:
    """Zip the staging folder; return (zipped bytes, unzipped bytes)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    unzipped = 0
    tmp = output.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(p for p in staging.rglob("*") if p.is_file()):
            relative = path.relative_to(staging).as_posix()
            if relative.endswith(".pyo"):
                continue
            info = zipfile.ZipInfo(relative, date_time=ZIP_TIME)
            # Readable by Lambda's sandbox user whatever the build machine's umask was.
            info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = path.read_bytes()
            unzipped += len(data)
            archive.writestr(info, data)
    tmp.replace(output)
    return output.stat().st_size, unzipped


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


class Command(BaseCommand):
    help = "Build the Lambda deployment package (build/gatehouse-lambda.zip) and print its size."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", default="build/gatehouse-lambda.zip", help="Where to write the zip.")
        parser.add_argument("--python-version", default="3.12", help="The Lambda runtime's Python (3.12).")
        parser.add_argument(
            "--platform",
            default="manylinux2014_x86_64",
            help="Wheel platform: manylinux2014_aarch64 for arm64.",
        )
        parser.add_argument(
            "--no-compile",
            action="store_true",
            help="Leave out the bytecode (smaller zip, slower cold starts: /var/task is read-only).",
        )
        parser.add_argument(
            "--skip-dependencies",
            action="store_true",
            help="Package our code and static files only (a layer has the rest).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        base_dir = Path(settings.BASE_DIR)
        output = Path(options["output"])
        if not output.is_absolute():
            output = base_dir / output
        staging = output.with_suffix("")
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)

        if not options["skip_dependencies"]:
            self.stdout.write(
                f"pip: requirements.txt for cp{options['python_version']} {options['platform']}"
            )
            command = pip_install_command(
                requirements=base_dir / "requirements.txt",
                target=staging,
                python_version=options["python_version"],
                platform=options["platform"],
            )
            result = subprocess.run(command, cwd=base_dir, check=False, capture_output=True, text=True)  # noqa: S603
            if result.returncode:
                raise CommandError(f"pip failed:\n{result.stderr[-4000:]}")

        files = list(source_files(base_dir))
        for relative in files:
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(base_dir / relative, staging / relative)
        self.stdout.write(f"code: {len(files)} files from {', '.join(source_roots(base_dir))}")

        self._collect_static(base_dir, staging / "staticfiles")
        if not options["no_compile"]:
            self._compile(staging, options["python_version"])

        zipped, unzipped = write_zip(staging, output)
        shutil.rmtree(staging)
        self.stdout.write(
            self.style.SUCCESS(
                f"{output.relative_to(base_dir) if output.is_relative_to(base_dir) else output}: "
                f"{_megabytes(zipped)} zipped, {_megabytes(unzipped)} unzipped "
                f"(Lambda allows {_megabytes(ZIPPED_LIMIT)} zipped for a direct upload, "
                f"{_megabytes(UNZIPPED_LIMIT)} unzipped)"
            )
        )
        if unzipped > UNZIPPED_LIMIT:
            raise CommandError("the package is over Lambda's 250 MB unzipped limit")

    def _compile(self, staging: Path, python_version: str) -> None:
        """Ship bytecode: Lambda cannot write __pycache__ in /var/task, so it would compile every cold start.

        Unchecked-hash .pyc files stay valid whatever time the zip gives the sources.
        """
        import compileall
        import py_compile

        if f"{sys.version_info.major}.{sys.version_info.minor}" != python_version:
            self.stdout.write(f"bytecode: skipped (this Python is not {python_version})")
            return
        compileall.compile_dir(
            staging,
            quiet=2,
            workers=0,
            force=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        self.stdout.write("bytecode: compiled (unchecked-hash .pyc)")

    def _collect_static(self, base_dir: Path, static_root: Path) -> None:
        """collectstatic with production settings, in a child process (settings are fixed per process)."""
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "backoffice.settings",
            "GATEHOUSE_ENV": "production",
            "ENV_FILE": "",
            "STATIC_ROOT": str(static_root),
            # None is used by collectstatic; production settings insist on them being set.
            "SECRET_KEY": os.environ.get("SECRET_KEY") or "collectstatic-only-" + "x" * 40,
            # A valid Fernet key's shape (32 bytes, URL-safe base64); nothing is sealed here.
            "OUTBOX_ENCRYPTION_KEYS": os.environ.get("OUTBOX_ENCRYPTION_KEYS")
            or "Y29sbGVjdHN0YXRpYy1vbmx5LW5vdC1hLXJlYWwta2U=",
            "DATABASE_URL": os.environ.get("DATABASE_URL") or "postgres://build@127.0.0.1:5432/build",
            "FORCE_SCRIPT_NAME": "",
        }
        result = subprocess.run(  # noqa: S603
            [sys.executable, str(base_dir / "manage.py"), "collectstatic", "--noinput"],
            cwd=base_dir,
            env=env,
            check=False,
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise CommandError(f"collectstatic failed:\n{result.stderr[-4000:]}")
        self.stdout.write(f"static: {result.stdout.strip().splitlines()[-1]}")

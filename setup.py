"""Builds refscope with setuptools, for `pip install --no-build-isolation .`
(offline, with Debian's python3-setuptools).  The Makefile is the main
build; this builds the same sources: the extension from src/*.c except
src/cli.c, and the `refscope` command from src/cli.c and src/attach.c,
shipped inside the package as refscope/bin/refscope (the `refscope` entry
point and `python3 -m refscope` run it).
"""
import glob
import os
import re
import subprocess
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGES = ["ncursesw", "libedit"]


def pkg_config(option):
    try:
        return subprocess.check_output(["pkg-config", option] + PACKAGES, text=True).split()
    except (OSError, subprocess.CalledProcessError):
        sys.exit("refscope: pkg-config cannot find %s; run: sudo apt-get install pkg-config "
                 "libncurses-dev libedit-dev" % " and ".join(PACKAGES))


def version():
    with open(os.path.join(HERE, "src", "module.c")) as f:
        return re.search(r'^#define REFSCOPE_VERSION "(.*)"', f.read(), re.M).group(1)


COMPILE_ARGS = ["-std=c11", "-fvisibility=hidden", "-D_GNU_SOURCE", "-Wall", "-Wextra",
                "-Wno-missing-field-initializers"]
COMMAND_SOURCES = ["src/cli.c", "src/attach.c"]


class BuildWithCommand(build_ext):
    """Builds the extension, then the `refscope` command into the package."""

    def run(self):
        super().run()
        macros = [("REFSCOPE_VERSION", '"%s"' % version()),
                  ("RS_PYTHON_EXE", '"%s"' % sys.executable),
                  ("RS_PYTHON_VERSION", '"%s"' % sysconfig.get_python_version())]
        objects = self.compiler.compile(COMMAND_SOURCES, output_dir=self.build_temp, macros=macros,
                                        include_dirs=["src"], extra_postargs=COMPILE_ARGS)
        out_dir = os.path.join(self.build_lib, "refscope", "bin")
        self.compiler.link_executable(objects, "refscope", output_dir=out_dir)


build_base = os.path.join("build", "setuptools")
os.makedirs(build_base, exist_ok=True)
setup(
    version=version(),
    ext_modules=[Extension(
        "refscope._refscope",
        sources=sorted(set(glob.glob("src/*.c")) - {"src/cli.c"}),
        include_dirs=["include", "src"],
        extra_compile_args=COMPILE_ARGS + [f for f in pkg_config("--cflags") if not f.startswith("-D")],
        extra_link_args=pkg_config("--libs"),
    )],
    cmdclass={"build_ext": BuildWithCommand},
    options={"build": {"build_base": build_base}, "egg_info": {"egg_base": build_base}},
)

"""Build the Cython DSP core as floweq_tui._dsp and ship models/ as floweq_tui.models.

The core is _dsp.pyx plus its C kernels, dsp_kernel.c / dsp_kernel.h and the modulators'
mod_kernel.c / mod_kernel.h (all at the top level), with two small C extensions beside it
(the MIDI service's JACK input, the UI's curve drawing, floweq_tui/tui/_draw.c),
compiled with -Wall -Wextra (the kernel is warning-free under them; a test compiles it with
-Werror) and -O3 for the baseline instruction set of the target (SSE2 on x86-64, NEON on
aarch64), so a wheel built here runs on any machine of the same architecture. Set
FLOWEQ_NATIVE=1 to add -march=native for a build that stays on the machine it was made on.
"""

import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup

extra_compile_args = ["-O3", "-fno-math-errno", "-fno-trapping-math", "-Wall", "-Wextra"]
if os.environ.get("FLOWEQ_NATIVE") == "1":
    extra_compile_args.append("-march=native")

extensions = [
    Extension(
        "floweq_tui._dsp",
        ["_dsp.pyx", "dsp_kernel.c", "mod_kernel.c", "path_kernel.c"],
        include_dirs=[".", np.get_include()],
        depends=["dsp_kernel.h", "mod_kernel.h", "path_kernel.h"],
        extra_compile_args=extra_compile_args,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    ),
    # the UI's drawing of the response curve (plain C API; -ffp-contract=off: the same
    # rounding as the NumPy drawing it replaces, on any target)
    Extension(
        "floweq_tui.tui._draw",
        ["floweq_tui/tui/_draw.c"],
        extra_compile_args=[*extra_compile_args, "-ffp-contract=off"],
    ),
    # the MIDI service's JACK input (libjack is dlopen'ed: no JACK headers needed)
    Extension(
        "floweq_tui.midi._jackmidi",
        ["floweq_tui/midi/_jackmidi.c"],
        extra_compile_args=extra_compile_args,
    ),
]

setup(
    packages=[*find_packages(include=["floweq_tui", "floweq_tui.*"]), "floweq_tui.models"],
    package_dir={"floweq_tui": "floweq_tui", "floweq_tui.models": "models"},
    package_data={
        "floweq_tui.models": ["*.npz", "*.json"],
        "floweq_tui": ["py.typed"],
        "floweq_tui.tui": ["*.tcss"],
    },
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
)

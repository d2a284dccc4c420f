# The extension module: src/dreamlake_engine/_engine.c, against the C API's header and the engine's
# shared library, both copied into the package by scripts/python-wheel (which builds the wheel; this
# file is not meant to be run from a checkout by hand).
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "dreamlake_engine._engine",
            sources=["src/dreamlake_engine/_engine.c"],
            include_dirs=["src/dreamlake_engine/include"],
            library_dirs=["src/dreamlake_engine"],
            libraries=["dreamlakec"],
            # The engine beside the extension, wherever the package is installed.
            runtime_library_dirs=["$ORIGIN"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Werror", "-Wno-missing-field-initializers",
                                "-Wno-cast-function-type"],
        )
    ],
)

"""Builds the C modules cgi and cgitb as extension modules, from the same
sources as cgihost's built-in copies; the metadata is in setup.cfg.

cgi is shim/*.c but cgitb*.c, with the parsers of shim/parsers/; cgitb is
shim/cgitb*.c and shim/pyutil.c, the one file of cgi's whose helpers it
shares (argument binding); every symbol but PyInit_* is hidden."""
from glob import glob

from setuptools import Extension, setup
from setuptools.command.install import install


class Install(install):
    """Debian's python3-setuptools reads the install options install_layout
    and prefix_option that only Debian's own distutils defines: give them
    their defaults under other CPythons (pyenv's 3.12/3.13 building offline
    with Debian's setuptools on PYTHONPATH)."""

    def initialize_options(self):
        super().initialize_options()
        for option in ("install_layout", "prefix_option"):
            if option not in vars(self):
                setattr(self, option, None)


parsers = sorted(glob("shim/parsers/*.c"))
cgitb = sorted(glob("shim/cgitb*.c"))
cgi = sorted(set(glob("shim/*.c")) - set(cgitb)) + parsers
# setuptools rebuilds an extension only when a file it lists is newer than the
# module, and pip builds in the tree (build/lib.*, build/temp.*): without the
# headers, a change to one alone reinstalled the modules built before it.
headers = sorted(glob("shim/*.h") + glob("shim/parsers/*.h"))
flags = ["-std=c11", "-fvisibility=hidden"]
macros = [("_GNU_SOURCE", None)]

setup(cmdclass={"install": Install}, ext_modules=[
    Extension("cgi", cgi, depends=headers, define_macros=macros, extra_compile_args=flags),
    Extension("cgitb", cgitb + ["shim/pyutil.c"], depends=headers, define_macros=macros,
              extra_compile_args=flags),
])

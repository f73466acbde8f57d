"""Module files that cannot be used: ModuleFileError names file:line and a fix."""

import pytest

from kfuzz.kernel import ModuleFileError, ModuleIndex, read_image

INIT = """
@module_init
def m_init():
    return 0
"""


def bad(tmp_path, text, name="m"):
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    with pytest.raises(ModuleFileError) as info:
        ModuleIndex.scan([path])
    return path, info.value


@pytest.mark.parametrize("text, lineno, message, fix", [
    ('MODULE_LICENSE = "GPL"\n\ndef m_init(:\n    return 0\n', 3, "syntax error",
     "the module file must be valid Python"),
    ("from kfuzz.kapi import *\n" + INIT, 1, "missing MODULE_LICENSE", 'add MODULE_LICENSE = "GPL"'),
    ('MODULE_LICENSE = "GPL"\nx = 1\nn = module_param("n", float, 1.0)\n' + INIT, 3,
     "module_param 'n': type must be int, bool or str", 'module_param("name", int, 0'),
    ('MODULE_LICENSE = "GPL"\nn = module_param("n", int, "5")\n' + INIT, 2,
     "module_param 'n': default '5' is not int", 'module_param("name", int, 0'),
    ('MODULE_LICENSE = "GPL"\nn = module_param("n", int, True)\n' + INIT, 2,
     "module_param 'n': default True is not int", 'module_param("name", int, 0'),
    ('MODULE_LICENSE = "GPL"\nn = module_param("n", str)\nn = module_param("n", int)\n' + INIT, 3,
     "module_param 'n' declared twice", "one module_param call"),
    ('MODULE_LICENSE = "GPL"\nMODULE_SOFTDEP = "needs other"\n' + INIT, 2,
     "MODULE_SOFTDEP 'needs other' has no 'pre:' or 'post:'", 'MODULE_SOFTDEP = "pre: othermod"'),
    ('MODULE_LICENSE = "GPL"\nMODULE_DEVICE_TABLE = [(0x8086, 1)]\n' + INIT, 2,
     "'(32902, 1)' is not a device id", "pci_device_id(v, d)"),
])
def test_bad_module_file_is_refused_with_place_and_fix(tmp_path, text, lineno, message, fix):
    path, err = bad(tmp_path, text)
    assert (err.path, err.lineno) == (path, lineno)
    assert str(err).startswith(f"{path}:{lineno}: ")
    assert message in err.message, err.message
    assert fix in err.fix and str(err).endswith(f"; fix: {err.fix}") and "\n" not in str(err)


def test_duplicate_module_names_in_one_index_are_refused(tmp_path):
    good = 'MODULE_LICENSE = "GPL"\n' + INIT
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "same.py").write_text(good)
    with pytest.raises(ModuleFileError) as info:
        ModuleIndex.scan([tmp_path])
    err = info.value
    assert "module name 'same' is also" in err.message
    assert "rename one of the files" in err.fix


def test_naming_a_file_replaces_the_one_found_in_a_folder(tmp_path):
    good = 'MODULE_LICENSE = "GPL"\n' + INIT
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "m.py").write_text(good)
    (tmp_path / "m.py").write_text(good)
    index = ModuleIndex.scan([tmp_path / "mods", tmp_path / "m.py"])
    assert index.get("m").path == tmp_path / "m.py"


def test_missing_module_file_or_folder(tmp_path):
    with pytest.raises(ModuleFileError, match="no such module file or folder"):
        ModuleIndex.scan([tmp_path / "nothere"])
    with pytest.raises(ModuleFileError, match="nothere.py: no such module file; fix: check the path"):
        read_image(tmp_path / "nothere.py")


def test_folder_scan_skips_tests_examples_and_caches(tmp_path):
    good = 'MODULE_LICENSE = "GPL"\n' + INIT
    for rel in ("ok.py", "test_x.py", "conftest.py", "__init__.py", "examples/ex.py",
                "__pycache__/c.py", "sub/deep.py"):
        path = tmp_path / rel
        path.parent.mkdir(exist_ok=True)
        path.write_text(good)
    assert ModuleIndex.scan([tmp_path]).names() == ["deep", "ok"]


def test_dashes_in_a_file_name_become_underscores(tmp_path):
    (tmp_path / "my-mod.py").write_text('MODULE_LICENSE = "GPL"\n' + INIT)
    index = ModuleIndex.scan([tmp_path])
    assert index.names() == ["my_mod"]
    assert index.get("my-mod") is index.get("my_mod")


def test_a_file_without_module_init_is_a_library_not_an_error(tmp_path):
    """kernel/module/main.c: a module's init is optional (mod->init may be NULL)."""
    path = tmp_path / "lib.py"
    path.write_text('MODULE_LICENSE = "GPL"\n\ndef lib_sum(a, b):\n    return a + b\n')
    image = read_image(path)
    assert (image.has_init, image.has_exit) == (False, False)

"""A workspace with a key and a catalog on each test database, its resources opened."""

import pytest

from udc.pseudonymize.keys import KeyStore
from udc.workspace.layout import Workspace
from udc.workspace.resources import open_resources


@pytest.fixture
def res(tmp_path, database_url):
    workspace = Workspace(tmp_path / "ws")
    workspace.create_folders()
    workspace.settings_file.write_text(
        workspace.settings_file.read_text().replace(
            'url = "sqlite:///catalog.db"', f'url = "{database_url}"'
        )
    )
    KeyStore(workspace.keys).create()
    return open_resources(workspace.root)

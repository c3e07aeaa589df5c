"""Shared pytest fixtures. Each stage of the data path keeps its fixtures in its own module;
they are collected here so every test file can use them."""
from fixtures_data import *  # noqa: F401,F403  (generated jets and files)
from fixtures_graphs import *  # noqa: F401,F403  (graph shards)
from fixtures_model import *  # noqa: F401,F403  (a small trained checkpoint)
from fixtures_export import *  # noqa: F401,F403  (exported artifacts)
from fixtures_cmssw import *  # noqa: F401,F403  (cmssw_example built once)

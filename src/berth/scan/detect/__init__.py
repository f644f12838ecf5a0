"""Package detectors: each reads one kind of file (an OS package database, language metadata, a binary)."""

from berth.scan.detect.apk import ApkDetector
from berth.scan.detect.base import DetectError, Detector, Found, OSPackage, OSRelease, finish_os_package
from berth.scan.detect.dpkg import DpkgDetector
from berth.scan.detect.go import GoBinaryDetector
from berth.scan.detect.java import JavaArchiveDetector
from berth.scan.detect.npm import NpmDetector
from berth.scan.detect.os_release import OSReleaseDetector, os_info
from berth.scan.detect.python import PythonDetector
from berth.scan.detect.rpm import RpmDetector


def default_detectors() -> list[Detector]:
    """Every detector, in the order their results are listed (OS first)."""
    return [
        OSReleaseDetector(),
        DpkgDetector(),
        ApkDetector(),
        RpmDetector(),
        PythonDetector(),
        NpmDetector(),
        JavaArchiveDetector(),
        GoBinaryDetector(),
    ]


__all__ = [
    "Detector",
    "DetectError",
    "Found",
    "OSPackage",
    "OSRelease",
    "default_detectors",
    "finish_os_package",
    "os_info",
]

"""The demo: a simulated region end to end against the network emulators (`gospulse demo`).

It lives beside the package, not in it: like `emulators/`, it runs from a source checkout and
is not in the wheel or the image. It may import gospulse, the extractors and the emulators;
nothing in gospulse imports it except `gospulse demo`, which loads it when asked.
"""

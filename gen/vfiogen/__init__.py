"""vfiogen: compile linux/vfio.h and linux/iommufd.h into a verified spec.

The flow is one direction: sources -> front end -> spec (IR) -> emitters.
"""

__version__ = "0.1.0"

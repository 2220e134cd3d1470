"""Domain errors of images (what Glance says about an image a server is to boot from); str() is
the client message, in Nova's wording (nova/exception.py and the servers API)."""

GIB = 1024**3


class ImageNotFound(Exception):
    """The image service does not know the image, or does not show it to the caller."""

    def __init__(self, image_id):
        self.image_id = image_id
        # Nova's servers API answers ImageNotFound with this text, not the exception's own.
        super().__init__("Can not find requested image")


class BlockDeviceImageNotFound(Exception):
    """An image named by a block device mapping does not exist (Nova's InvalidBDMImage)."""

    def __init__(self, image_id):
        super().__init__(f"Block Device Mapping is Invalid: failed to get image {image_id}.")


class ImageNotActive(Exception):
    def __init__(self, image_id):
        super().__init__(f"Image {image_id} is not active.")


class FlavorMemoryTooSmall(Exception):
    def __init__(self):
        super().__init__("Flavor's memory is too small for requested image.")


class FlavorDiskSmallerThanImage(Exception):
    def __init__(self, flavor_size: int, image_size: int):
        super().__init__(
            "Flavor's disk is too small for requested image. Flavor disk "
            f"is {flavor_size} bytes, image is {image_size} bytes."
        )


class FlavorDiskSmallerThanMinDisk(Exception):
    def __init__(self, flavor_size: int, image_min_disk: int):
        super().__init__(
            "Flavor's disk is smaller than the minimum size specified in "
            f"image metadata. Flavor disk is {flavor_size} bytes, "
            f"minimum size is {image_min_disk} bytes."
        )


class ImageServiceUnavailable(Exception):
    """The image service did not answer (Nova answers 500 for GlanceConnectionFailed; a client
    error would be wrong, and the cause is not ours: 503)."""

    def __init__(self):
        super().__init__("The image service is unavailable. Please try again later.")


FAULTS = {
    ImageNotFound: 400,
    BlockDeviceImageNotFound: 400,
    ImageNotActive: 400,
    FlavorMemoryTooSmall: 400,
    FlavorDiskSmallerThanImage: 400,
    FlavorDiskSmallerThanMinDisk: 400,
    ImageServiceUnavailable: 503,
}

from django.apps import AppConfig


class ImagesConfig(AppConfig):
    name = "images"
    verbose_name = "Images"

    def ready(self):
        from cellsv2.api.faults import register_faults
        from images.exceptions import FAULTS

        register_faults(FAULTS)

"""The Django floor: the least a Django + DRF view can do for each shape of work, on our database.

The same app as the Nova anchor's ``django_floor_bench.py`` (a keypair-shaped row; ``APIView`` +
``ModelSerializer``; JSON only; no authentication, permissions or throttling), but its table lives
in *our* API database (same engine, file or server, connection options) and it is served by the
same process as our API. It never passes through our middleware: its handlers are built with an
empty MIDDLEWARE, like the anchor's floor project.

  GET    /floor/items/<pk>   one SELECT by primary key + serialize   (floor_get_pk)
  GET    /floor/items        SELECT of 100 rows + serialize          (floor_list_100)
  POST   /floor/items        one INSERT                              (floor_insert)
  DELETE /floor/items/<pk>   one DELETE                              (floor_delete)
  GET    /floor/items/<pk>/two-databases                             (floor_two_databases)
         the row from the API database, then the same row from cell1's database in the thread of
         a one-thread pool (its pooled connection given back after), one after the other: the
         shape of any show that finds a server in the API database and reads it from its cell,
         as Nova's does, with nothing else

The model is not part of any installed app: its table is created here with the schema editor
(``ensure_table``) and dropped by ``drop_table``; nothing of the application changes.
"""

from concurrent.futures import ThreadPoolExecutor

from django.db import connections, models
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

API = "api"
CELL = "cell1"
PUBKEY = "ssh-rsa " + "A" * 372 + " bench@anchor"


class Item(models.Model):
    name = models.CharField(max_length=255)
    user_id = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=255)
    public_key = models.TextField()
    type = models.CharField(max_length=10, default="ssh")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "benchmarks_floor"
        db_table = "bench_floor_items"

    def __str__(self) -> str:
        return self.name


class ItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = Item
        fields = ["id", "name", "user_id", "fingerprint", "public_key", "type", "created_at"]


class _FloorView(APIView):
    authentication_classes = []
    permission_classes = []
    throttle_classes = []
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]


class ItemDetail(_FloorView):
    def get(self, request, pk):
        try:
            obj = Item.objects.get(pk=pk)
        except Item.DoesNotExist:
            return Response(status=404)
        return Response({"item": ItemSerializer(obj).data})

    def delete(self, request, pk):
        n, _ = Item.objects.filter(pk=pk).delete()
        return Response(status=204 if n else 404)


_cell_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="floor-cell")


def _read_in_cell(pk):
    try:
        return Item.objects.using(CELL).get(pk=pk)
    except Item.DoesNotExist:
        return None
    finally:
        connections[CELL].close()  # back to its pool, as a cell thread gives its connection back


class ItemInTwoDatabases(_FloorView):
    def get(self, request, pk):
        if not Item.objects.filter(pk=pk).exists():
            return Response(status=404)
        obj = _cell_thread.submit(_read_in_cell, pk).result()
        if obj is None:
            return Response(status=404)
        return Response({"item": ItemSerializer(obj).data})


class ItemList(_FloorView):
    def get(self, request):
        qs = Item.objects.order_by("id")[:1000]
        return Response({"items": ItemSerializer(qs, many=True).data})

    def post(self, request):
        s = ItemSerializer(data=request.data["item"])
        s.is_valid(raise_exception=True)
        s.save()
        return Response({"item": s.data}, status=201)


def item_body(i: int) -> dict:
    return {
        "item": {
            "name": f"kp-{i}",
            "user_id": "fake",
            "fingerprint": "1e:2c:9b:56:79:4b:45:77:f9:ca:7a:98:2c:b0:d5:3c",
            "public_key": PUBKEY,
        }
    }


def ensure_table(alias: str = API) -> None:
    """Create the floor's table in the API database (or ``alias``) unless it exists."""
    connection = connections[alias]
    if Item._meta.db_table in connection.introspection.table_names():
        return
    with connection.schema_editor() as editor:
        editor.create_model(Item)


def drop_table(alias: str = API) -> None:
    connection = connections[alias]
    if Item._meta.db_table in connection.introspection.table_names():
        with connection.schema_editor() as editor:
            editor.delete_model(Item)


def floor_wsgi_application():
    """A WSGI handler for the floor: the benchmark URLconf and no middleware at all."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.utils import override_settings

    with override_settings(MIDDLEWARE=[]):
        return WSGIHandler()


def floor_test_client():
    """A django.test.Client whose handler runs no middleware (the anchor floor's 'client')."""
    from django.test import Client
    from django.test.utils import override_settings

    client = Client()
    with override_settings(MIDDLEWARE=[]):
        client.handler.load_middleware()
    return client

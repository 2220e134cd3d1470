"""Domain errors of key pairs; str() is the client message (Nova's wording)."""


class KeypairNotFound(Exception):
    def __init__(self, name, user_id):
        super().__init__(f"Keypair {name} not found for user {user_id}")


class KeyPairExists(Exception):
    def __init__(self, name):
        super().__init__(f"Key pair '{name}' already exists.")


class MarkerNotFound(Exception):
    def __init__(self, marker):
        super().__init__(f"Marker {marker} could not be found.")


class ConflictNotFound(Exception):
    def __init__(self, conflict_id):
        super().__init__(f"Key pair conflict {conflict_id} not found (or already resolved).")


class ConflictUnresolvable(Exception):
    def __init__(self, conflict_id, reason):
        super().__init__(f"Key pair conflict {conflict_id} cannot be resolved that way: {reason}.")

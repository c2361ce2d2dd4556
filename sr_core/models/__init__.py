"""The architectures the engine knows, one file each, registered here in detection order."""
from sr_core.models.architecture import (
    ARCHITECTURES,
    Architecture,
    HubSource,
    ModelCard,
    Recipe,
    UnsupportedCheckpoint,
    Weights,
    architecture_keyed,
    architecture_named,
    architecture_of,
    count_parameters,
    model_from_state_dict,
    recipe_architecture,
    register,
    training_recipes,
)
from sr_core.models.rcan import RCAN_ARCHITECTURE
from sr_core.models.safmn import SAFMN_ARCHITECTURE

register(RCAN_ARCHITECTURE)
register(SAFMN_ARCHITECTURE)

__all__ = ["ARCHITECTURES", "Architecture", "HubSource", "ModelCard", "Recipe", "UnsupportedCheckpoint", "Weights",
           "architecture_keyed", "architecture_named", "architecture_of", "count_parameters", "model_from_state_dict",
           "recipe_architecture", "register", "training_recipes"]

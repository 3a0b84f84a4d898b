"""VSR patch extraction: plan, decode once, tone-map, crop/stack, layout, status and monitor."""

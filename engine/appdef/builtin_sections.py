"""The built-in sections, imported so that each registers itself, as an extension would."""

from engine.appdef import automations, entities, generate, imports, matching, reports

BUILT_IN = (
    entities.ENTITIES,
    imports.IMPORTS,
    matching.MATCHING,
    automations.AUTOMATIONS,
    reports.REPORTS,
    generate.GENERATE,
)

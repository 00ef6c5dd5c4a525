-- Learning from staff (SPEC §6): each camera finding keeps the crop of its object, so
-- that staff confirmations and rejections of its ticket become labelled examples.
-- The verdict is not copied here: it is read from the ticket's history when exporting.
CREATE TABLE vision_examples (
    finding_key text PRIMARY KEY REFERENCES tickets (finding_key),
    camera_id   text NOT NULL,
    rule        text NOT NULL,
    label       text NOT NULL DEFAULT '',
    crop_path   text NOT NULL,  -- relative to the data directory
    box         real[] NOT NULL CHECK (cardinality(box) = 4),  -- the object in the crop
    created_at  timestamptz NOT NULL
);

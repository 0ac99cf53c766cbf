-- projection "operators": one row per operator account (the console's list; logins read the account's
-- own stream, so a disabled account is refused even before this row catches up).
CREATE TABLE read_models.operators (
    name        text        PRIMARY KEY,
    role        text        NOT NULL,
    active      boolean     NOT NULL,
    added_by    text        NOT NULL,
    added_at    timestamptz NOT NULL,
    updated_by  text        NOT NULL,
    updated_at  timestamptz NOT NULL
);

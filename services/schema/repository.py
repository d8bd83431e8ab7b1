"""All of the schema service's SQL. Every statement on apps, schemas and fields is built
through a TenantTable bound to the caller's tenant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.kit.ids import new_id
from services.kit.tenancy import TenantTable
from services.schema import tables
from services.schema.models import NO_DEFAULT, App, AppSettings, Field, FieldSpec, PublicApp, Schema

UNIQUE_VIOLATION = "23505"
# Public app ids read "app_..."; slugs cannot contain "_", so the two never collide.
PUBLIC_ID_PREFIX = "app_"


class SchemaRepository:
    def __init__(self, session: AsyncSession, tenant_id: str) -> None:
        self.session = session
        self.apps = TenantTable(tables.apps, tenant_id)
        self.schemas = TenantTable(tables.schemas, tenant_id)
        self.fields = TenantTable(tables.fields, tenant_id)
        self._tables = {"app": self.apps, "schema": self.schemas, "field": self.fields}

    # apps

    async def taken_app_slugs(self, candidates: Sequence[str]) -> set[str]:
        statement = self.apps.select(self.apps.c.slug).where(self.apps.c.slug.in_(candidates))
        return set((await self.session.scalars(statement)).all())

    async def insert_app(self, *, slug: str, name: str, description: str) -> App | None:
        """The new app, or None when the tenant already has an app with this slug."""
        statement = self.apps.insert(
            id=new_id("app"),
            slug=slug,
            name=name,
            description=description,
            public_id=new_id("app"),
        ).returning(*tables.apps.c)
        try:
            async with self.session.begin_nested():
                row = (await self.session.execute(statement)).one()
        except IntegrityError as error:
            if _violated_constraint(error) == "uq_apps_tenant_id_slug":
                return None
            raise
        return _app(row)

    async def list_apps(self) -> list[App]:
        statement = (
            self.apps.select()
            .where(self.apps.c.deleted_at.is_(None))
            .order_by(self.apps.c.created_at, self.apps.c.id)
        )
        return [_app(row) for row in (await self.session.execute(statement)).all()]

    async def get_app(self, slug: str) -> App | None:
        """The app by its slug or its public id."""
        statement = self.apps.select().where(_app_named(slug), self.apps.c.deleted_at.is_(None))
        row = (await self.session.execute(statement)).one_or_none()
        return None if row is None else _app(row)

    # schemas

    async def taken_schema_slugs(self, app_id: str, candidates: Sequence[str]) -> set[str]:
        statement = self.schemas.select(self.schemas.c.slug).where(
            self.schemas.c.app_id == app_id, self.schemas.c.slug.in_(candidates)
        )
        return set((await self.session.scalars(statement)).all())

    async def insert_schema(
        self, *, app: App, slug: str, name: str, fields: Sequence[FieldSpec]
    ) -> Schema | None:
        """The new schema with its fields, or None when the app already has this slug."""
        schema_id = new_id("sch")
        statement = self.schemas.insert(
            id=schema_id, app_id=app.id, slug=slug, name=name, version=1
        ).returning(self.schemas.c.version, self.schemas.c.created_at)
        try:
            async with self.session.begin_nested():
                row = (await self.session.execute(statement)).one()
        except IntegrityError as error:
            if _violated_constraint(error) == "uq_schemas_app_id_slug":
                return None
            raise
        created = tuple(_new_field(spec) for spec in fields)
        if created:
            await self.session.execute(
                self.fields.insert(schema_id=schema_id), [_field_row(f) for f in created]
            )
        return Schema(
            id=schema_id,
            app_id=app.id,
            app_slug=app.slug,
            slug=slug,
            name=name,
            version=row.version,
            created_at=row.created_at,
            fields=created,
        )

    async def update_app(self, app: App, **values: Any) -> App | None:
        """The renamed app, or None when another app of the tenant has the new slug."""
        statement = (
            self.apps.update()
            .where(self.apps.c.id == app.id)
            .values(**values)
            .returning(*tables.apps.c)
        )
        try:
            async with self.session.begin_nested():
                row = (await self.session.execute(statement)).one()
        except IntegrityError as error:
            if _violated_constraint(error) == "uq_apps_tenant_id_slug":
                return None
            raise
        return _app(row)

    async def update_schema(self, schema: Schema, **values: str) -> bool:
        """Renames the schema and bumps its version; False when the slug is taken."""
        statement = (
            self.schemas.update()
            .where(self.schemas.c.id == schema.id)
            .values(version=self.schemas.c.version + 1, **values)
        )
        try:
            async with self.session.begin_nested():
                await self.session.execute(statement)
        except IntegrityError as error:
            if _violated_constraint(error) == "uq_schemas_app_id_slug":
                return False
            raise
        return True

    async def lock_schema(self, schema_id: str) -> None:
        """Serialises field changes of one schema: positions and slugs are read, then
        written."""
        await self.session.execute(
            self.schemas.select(self.schemas.c.id)
            .where(self.schemas.c.id == schema_id)
            .with_for_update()
        )

    async def set_privacy_rules(self, schema_id: str, rules: dict[str, Any] | None) -> None:
        await self.session.execute(
            self.schemas.update()
            .where(self.schemas.c.id == schema_id)
            .values(privacy_rules=rules, version=self.schemas.c.version + 1)
        )

    async def bump_version(self, schema_id: str) -> None:
        await self.session.execute(
            self.schemas.update()
            .where(self.schemas.c.id == schema_id)
            .values(version=self.schemas.c.version + 1)
        )

    async def insert_field(self, schema_id: str, spec: FieldSpec) -> Field | None:
        """The new field, or None when the schema already has its slug."""
        created = _new_field(spec)
        statement = self.fields.insert(schema_id=schema_id, **_field_row(created))
        try:
            async with self.session.begin_nested():
                await self.session.execute(statement)
        except IntegrityError as error:
            if _violated_constraint(error) == "uq_fields_schema_id_slug":
                return None
            raise
        return created

    async def replace_field(self, field: Field) -> bool:
        """Stores a changed field; False when its new slug is taken in the schema."""
        row = _field_row(field)
        del row["id"]
        statement = self.fields.update().where(self.fields.c.id == field.id).values(**row)
        try:
            async with self.session.begin_nested():
                await self.session.execute(statement)
        except IntegrityError as error:
            if _violated_constraint(error) == "uq_fields_schema_id_slug":
                return False
            raise
        return True

    async def clear_primary(self, schema_id: str) -> None:
        await self.session.execute(
            self.fields.update()
            .where(self.fields.c.schema_id == schema_id, self.fields.c.is_primary)
            .values(is_primary=False)
        )

    async def delete_field(self, field_id: str) -> None:
        await self.session.execute(self.fields.delete().where(self.fields.c.id == field_id))

    async def list_schemas(self, app: App) -> list[Schema]:
        statement = (
            self.schemas.select()
            .where(self.schemas.c.app_id == app.id, self.schemas.c.deleted_at.is_(None))
            .order_by(self.schemas.c.created_at, self.schemas.c.id)
        )
        rows = (await self.session.execute(statement)).all()
        fields = await self._fields_of([row.id for row in rows])
        trashed = await self.trashed_field_ids([row.id for row in rows])
        return [
            _schema(
                row,
                app_slug=app.slug,
                fields=fields.get(row.id, ()),
                trashed=trashed.get(row.id, ()),
            )
            for row in rows
        ]

    async def find_schema(self, app_slug: str, schema_slug: str) -> tuple[bool, Schema | None]:
        """(whether the app exists, the schema if it does): one join, then the fields."""
        apps, schemas = self.apps.c, self.schemas.c
        statement = (
            self.apps.select(
                apps.id.label("app_id"),
                apps.slug.label("app_slug"),
                schemas.id,
                schemas.slug,
                schemas.name,
                schemas.version,
                schemas.created_at,
                schemas.privacy_rules,
            )
            .select_from(
                tables.apps.outerjoin(
                    tables.schemas,
                    and_(
                        schemas.app_id == apps.id,
                        schemas.tenant_id == apps.tenant_id,
                        schemas.slug == schema_slug,
                        schemas.deleted_at.is_(None),
                    ),
                )
            )
            .where(_app_named(app_slug), apps.deleted_at.is_(None))
        )
        row = (await self.session.execute(statement)).one_or_none()
        if row is None:
            return False, None
        if row.id is None:
            return True, None
        fields = await self._fields_of([row.id])
        trashed = await self.trashed_field_ids([row.id])
        return True, _schema(
            row,
            app_slug=row.app_slug,
            fields=fields.get(row.id, ()),
            trashed=trashed.get(row.id, ()),
        )

    async def schema_id_of(self, app_id: str, slug: str) -> str | None:
        statement = self.schemas.select(self.schemas.c.id).where(
            self.schemas.c.app_id == app_id,
            self.schemas.c.slug == slug,
            self.schemas.c.deleted_at.is_(None),
        )
        return (await self.session.execute(statement)).scalar()

    async def find_schema_by_id(self, schema_id: str) -> Schema | None:
        apps, schemas = self.apps.c, self.schemas.c
        statement = (
            self.schemas.select(schemas.id, apps.slug.label("app_slug"))
            .join_from(tables.schemas, tables.apps, apps.id == schemas.app_id)
            .where(schemas.id == schema_id, schemas.deleted_at.is_(None), apps.deleted_at.is_(None))
        )
        row = (await self.session.execute(statement)).one_or_none()
        return None if row is None else await self.schema_by_id(row.app_slug, schema_id)

    async def schema_by_id(self, app_slug: str, schema_id: str) -> Schema:
        row = (
            await self.session.execute(self.schemas.select().where(self.schemas.c.id == schema_id))
        ).one()
        fields = await self._fields_of([schema_id])
        trashed = await self.trashed_field_ids([schema_id])
        return _schema(
            row,
            app_slug=app_slug,
            fields=fields.get(schema_id, ()),
            trashed=trashed.get(schema_id, ()),
        )

    async def _fields_of(self, schema_ids: Sequence[str]) -> dict[str, tuple[Field, ...]]:
        if not schema_ids:
            return {}
        statement = (
            self.fields.select()
            .where(self.fields.c.schema_id.in_(schema_ids))
            .order_by(self.fields.c.schema_id, self.fields.c.position)
        )
        grouped: dict[str, list[Field]] = {}
        rows = [r for r in (await self.session.execute(statement)).all() if r.deleted_at is None]
        targets = await self._slugs_of(
            {row.config["target_id"] for row in rows if row.config.get("target_id")}
        )
        for row in rows:
            grouped.setdefault(row.schema_id, []).append(_field(row, targets))
        return {schema_id: tuple(items) for schema_id, items in grouped.items()}

    async def trashed_field_ids(self, schema_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """Fields in the trash per schema: their values are kept until the purge."""
        if not schema_ids:
            return {}
        statement = self.fields.select(self.fields.c.schema_id, self.fields.c.id).where(
            self.fields.c.schema_id.in_(schema_ids), self.fields.c.deleted_at.is_not(None)
        )
        grouped: dict[str, list[str]] = {}
        for schema_id, field_id in (await self.session.execute(statement)).all():
            grouped.setdefault(schema_id, []).append(field_id)
        return {k: tuple(sorted(v)) for k, v in grouped.items()}

    # trash

    async def trash(self, kind: str, entity_id: str, when: datetime) -> None:
        """Moves an app, schema or field to the trash: its slug goes to trashed_slug and
        the id stands in for it, so the slug is free meanwhile."""
        table = self._tables[kind]
        await self.session.execute(
            table.update()
            .where(table.c.id == entity_id, table.c.deleted_at.is_(None))
            .values(deleted_at=when, trashed_slug=table.c.slug, slug=table.c.id)
        )

    async def untrash(self, kind: str, entity_id: str) -> bool:
        """Takes an entry out of the trash under its old slug; False when that slug has
        been taken since."""
        table = self._tables[kind]
        statement = (
            table.update()
            .where(table.c.id == entity_id, table.c.deleted_at.is_not(None))
            .values(deleted_at=None, trashed_slug=None, slug=table.c.trashed_slug)
        )
        try:
            async with self.session.begin_nested():
                await self.session.execute(statement)
        except IntegrityError as error:
            if _violated_constraint(error) is None:
                raise
            return False
        return True

    async def trashed_entry(self, kind: str, entity_id: str) -> Any:
        table = self._tables[kind]
        statement = (
            table.select()
            .where(table.c.id == entity_id, table.c.deleted_at.is_not(None))
            .with_for_update()
        )
        return (await self.session.execute(statement)).one_or_none()

    async def trash_entries(self) -> list[dict[str, Any]]:
        """Everything of the tenant in the trash, with the slugs it had."""
        apps, schemas, fields = tables.apps.c, tables.schemas.c, tables.fields.c
        found: list[dict[str, Any]] = []
        app_rows = await self.session.execute(
            self.apps.select(apps.id, apps.trashed_slug, apps.name, apps.deleted_at).where(
                apps.deleted_at.is_not(None)
            )
        )
        for row in app_rows.all():
            found.append(_entry(row, "app", app=row.trashed_slug))
        schema_rows = await self.session.execute(
            self.schemas.select(
                schemas.id,
                schemas.trashed_slug,
                schemas.name,
                schemas.deleted_at,
                apps.slug.label("app_slug"),
            )
            .join_from(tables.schemas, tables.apps, apps.id == schemas.app_id)
            .where(schemas.deleted_at.is_not(None), apps.deleted_at.is_(None))
        )
        for row in schema_rows.all():
            found.append(_entry(row, "schema", app=row.app_slug, schema=row.trashed_slug))
        field_rows = await self.session.execute(
            self.fields.select(
                fields.id,
                fields.trashed_slug,
                fields.name,
                fields.deleted_at,
                schemas.slug.label("schema_slug"),
                apps.slug.label("app_slug"),
            )
            .join_from(tables.fields, tables.schemas, schemas.id == fields.schema_id)
            .join(tables.apps, apps.id == schemas.app_id)
            .where(
                fields.deleted_at.is_not(None),
                schemas.deleted_at.is_(None),
                apps.deleted_at.is_(None),
            )
        )
        for row in field_rows.all():
            found.append(
                _entry(
                    row, "field", app=row.app_slug, schema=row.schema_slug, field=row.trashed_slug
                )
            )
        return found

    async def purge_field(self, field_id: str) -> str:
        """Deletes a trashed field for good; the id of its schema."""
        statement = (
            self.fields.delete()
            .where(self.fields.c.id == field_id)
            .returning(self.fields.c.schema_id)
        )
        return str((await self.session.execute(statement)).scalar_one())

    async def purge(self, kind: str, entity_id: str) -> list[tuple[str, str]]:
        """Deletes a trashed app or schema for good, fields and schemas with it; the
        (app id, schema id) of every schema that went."""
        schemas = self.schemas.c
        where = schemas.app_id == entity_id if kind == "app" else schemas.id == entity_id
        gone = (
            await self.session.execute(self.schemas.select(schemas.app_id, schemas.id).where(where))
        ).all()
        table = self._tables[kind]
        await self.session.execute(table.delete().where(table.c.id == entity_id))
        return [(row.app_id, row.id) for row in gone]

    async def app_slug_of(self, schema_id: str) -> str | None:
        apps, schemas = self.apps.c, self.schemas.c
        statement = (
            self.apps.select(apps.slug)
            .join_from(tables.apps, tables.schemas, schemas.app_id == apps.id)
            .where(schemas.id == schema_id)
        )
        return (await self.session.execute(statement)).scalar()

    async def _slugs_of(self, schema_ids: set[str]) -> dict[str, str]:
        """Current slugs of link targets: a link shows its target's slug as it is now."""
        if not schema_ids:
            return {}
        statement = self.schemas.select(self.schemas.c.id, self.schemas.c.slug).where(
            self.schemas.c.id.in_(sorted(schema_ids))
        )
        return {row.id: row.slug for row in (await self.session.execute(statement)).all()}


async def purgeable(session: AsyncSession, older_than: datetime) -> list[tuple[str, str, str]]:
    """(tenant, kind, id) of every trash entry older than the cut, across tenants: the
    purge is the system's own job, not a tenant's call."""
    found: list[tuple[str, str, str]] = []
    for kind, table in (("field", tables.fields), ("schema", tables.schemas), ("app", tables.apps)):
        statement = select(table.c.tenant_id, table.c.id).where(
            table.c.deleted_at.is_not(None), table.c.deleted_at < older_than
        )
        found.extend(
            (tenant, kind, entity_id)
            for tenant, entity_id in (await session.execute(statement)).all()
        )
    return found


async def public_app(session: AsyncSession, public_id: str) -> PublicApp | None:
    """The live app behind a public id, in whichever tenant: the caller has no workspace
    yet, and the id, unguessable, is what grants the address."""
    if not public_id.startswith(PUBLIC_ID_PREFIX):
        return None
    row = (
        await session.execute(
            select(tables.apps).where(
                tables.apps.c.public_id == public_id, tables.apps.c.deleted_at.is_(None)
            )
        )
    ).one_or_none()
    return None if row is None else PublicApp(tenant_id=row.tenant_id, app=_app(row))


def _app_named(ref: str) -> ColumnElement[bool]:
    """How every call finds the app it names: by public id or by slug. Always within the
    caller's tenant (the statements it goes into are), so another workspace's public id
    finds nothing."""
    if ref.startswith(PUBLIC_ID_PREFIX):
        return tables.apps.c.public_id == ref
    return tables.apps.c.slug == ref


def _entry(row: Any, kind: str, **where: str) -> dict[str, Any]:
    return {"id": row.id, "type": kind, **where, "name": row.name, "deleted_at": row.deleted_at}


def _app(row: Any) -> App:
    return App(
        id=row.id,
        slug=row.slug,
        name=row.name,
        description=row.description,
        created_at=row.created_at,
        public_id=row.public_id,
        settings=AppSettings(
            default_app_role=row.settings.get("default_app_role", AppSettings.default_app_role)
        ),
    )


def _schema(
    row: Any, *, app_slug: str, fields: tuple[Field, ...], trashed: tuple[str, ...] = ()
) -> Schema:
    return Schema(
        id=row.id,
        app_id=row.app_id,
        app_slug=app_slug,
        slug=row.slug,
        name=row.name,
        version=row.version,
        created_at=row.created_at,
        fields=fields,
        trashed_field_ids=trashed,
        privacy_rules=row.privacy_rules,
    )


def _field(row: Any, targets: dict[str, str]) -> Field:
    config = dict(row.config)
    if config.get("target_id") in targets:
        config["target"] = targets[config["target_id"]]
    return Field(
        id=row.id,
        slug=row.slug,
        name=row.name,
        type=row.type,
        required=row.required,
        options=tuple(row.options),
        position=row.position,
        unique=row.unique,
        primary=row.is_primary,
        default=NO_DEFAULT if row.default_value is None else row.default_value["value"],
        config=config,
    )


def _new_field(spec: FieldSpec) -> Field:
    return Field(
        id=new_id("fld"),
        slug=spec.slug,
        name=spec.name,
        type=spec.type,
        required=spec.required,
        options=spec.options,
        position=spec.position,
        unique=spec.unique,
        primary=spec.primary,
        default=spec.default,
        config=spec.config,
    )


def _field_row(f: Field) -> dict[str, Any]:
    return {
        "id": f.id,
        "slug": f.slug,
        "name": f.name,
        "type": f.type,
        "required": f.required,
        "options": list(f.options),
        "position": f.position,
        "unique": f.unique,
        "is_primary": f.primary,
        # Wrapped, so a default of JSON null differs from no default.
        "default_value": None if f.default is NO_DEFAULT else {"value": f.default},
        "config": f.config,
    }


def _violated_constraint(error: IntegrityError) -> str | None:
    """The unique constraint a failed statement hit, whichever driver raised it."""
    original = error.orig
    if getattr(original, "sqlstate", None) != UNIQUE_VIOLATION:
        return None
    for source in (original, getattr(original, "__cause__", None)):
        name = getattr(source, "constraint_name", None)
        if name:
            return str(name)
    return None

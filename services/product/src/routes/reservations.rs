//! `/internal/v1/reservations`: stock reservations for the order service.
//! Service credential only; the gateway never routes `/internal`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use shop_api::product::{Reservation, ReservationRequest};
use shop_common::auth::Service;
use shop_common::json::JsonObject;
use uuid::Uuid;

use crate::db::reservations::{self as db, ReserveOutcome, TransitionOutcome};
use crate::domain::reservation::ValidReservation;
use crate::error::{Error, ProductError};
use crate::state::AppState;

/// Reserve stock for every line or none, held until `expires_at` or, with
/// `commit: true`, sold at once. Idempotent by `id`.
#[utoipa::path(
    post, path = "/internal/v1/reservations", tag = "internal", operation_id = "create_reservation",
    request_body = ReservationRequest,
    security(("service" = [])),
    responses(
        (status = 201, description = "Reserved; unit prices are authoritative", body = Reservation,
            headers(("Location" = String, description = "The reservation's URL")),
            links(
                ("GetReservation" = (operation_id = "get_reservation", parameters(("id" = "$response.body#/id")), description = "Read the reservation")),
                ("CommitReservation" = (operation_id = "commit_reservation", parameters(("id" = "$response.body#/id")), description = "Sell the reserved stock")),
                ("ReleaseReservation" = (operation_id = "release_reservation", parameters(("id" = "$response.body#/id")), description = "Return the reserved stock")),
            )
        ),
        (status = 200, description = "Replay of an earlier request with this id", body = Reservation,
            headers(("Location" = String, description = "The reservation's URL"))
        ),
        (status = 409, description = "Out of stock (product_ids lists which), the id was released before it was reserved, or (with commit) its earlier hold was released or has expired"),
        (status = 422, description = "Invalid lines (a product twice, a quantity out of range), unknown or archived products, or the id reused with other lines"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    _service: Service,
    JsonObject(req): JsonObject<ReservationRequest>,
) -> Result<Response, Error> {
    let valid = ValidReservation::parse(req)?;
    let outcome = db::reserve(&state.db, &valid, state.settings.reservation_ttl).await?;
    let count = |o: &str| state.business.reservations.with_label_values(&[o]).inc();
    let (status, reservation) = match outcome {
        ReserveOutcome::Created(r) => {
            count("created");
            (StatusCode::CREATED, r)
        }
        ReserveOutcome::Replayed(r) => {
            count("replayed");
            (StatusCode::OK, r)
        }
        ReserveOutcome::Mismatch => {
            count("mismatch");
            return Err(ProductError::ReservationMismatch.into());
        }
        ReserveOutcome::Gone(why) => {
            count("gone");
            return Err(Error::Conflict(why));
        }
        ReserveOutcome::Released => {
            count("released_before");
            return Err(Error::Conflict(
                "this reservation id was released before it was reserved; use a new id",
            ));
        }
        ReserveOutcome::OutOfStock(ids) => {
            count("out_of_stock");
            return Err(ProductError::OutOfStock(ids).into());
        }
        ReserveOutcome::Unavailable(ids) => {
            count("unavailable");
            return Err(ProductError::ProductUnavailable(ids).into());
        }
    };
    let location = format!("/internal/v1/reservations/{}", reservation.id);
    let mut resp = (status, Json(reservation)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// Read a reservation.
#[utoipa::path(
    get, path = "/internal/v1/reservations/{id}", tag = "internal", operation_id = "get_reservation",
    params(("id" = Uuid, Path, description = "Reservation id (the order id)")),
    security(("service" = [])),
    responses(
        (status = 200, description = "The reservation", body = Reservation),
        (status = 400, description = "The id is not a UUID"),
        (status = 404, description = "No reservation with this id"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    _service: Service,
    Path(id): Path<Uuid>,
) -> Result<Json<Reservation>, Error> {
    let mut conn = state.db.acquire().await?;
    db::get(&mut conn, id)
        .await?
        .map(Json)
        .ok_or(Error::NotFound("reservation"))
}

fn transition(outcome: TransitionOutcome) -> Result<Json<Reservation>, Error> {
    match outcome {
        TransitionOutcome::Done(r) => Ok(Json(r)),
        TransitionOutcome::NotFound => Err(Error::NotFound("reservation")),
        TransitionOutcome::Conflict(_, why) => Err(Error::Conflict(why)),
    }
}

/// Mark a held reservation sold. Idempotent; 409 once released or expired.
#[utoipa::path(
    post, path = "/internal/v1/reservations/{id}/commit", tag = "internal", operation_id = "commit_reservation",
    params(("id" = Uuid, Path, description = "Reservation id")),
    security(("service" = [])),
    responses(
        (status = 200, description = "Committed now or before", body = Reservation,
            links(
                ("ReleaseReservation" = (operation_id = "release_reservation", parameters(("id" = "$request.path.id")), description = "Return the sold stock (an order cancelled)")),
            )
        ),
        (status = 400, description = "The id is not a UUID"),
        (status = 404, description = "No reservation with this id"),
        (status = 409, description = "Released or expired"),
    )
)]
pub async fn commit(
    State(state): State<AppState>,
    _service: Service,
    Path(id): Path<Uuid>,
) -> Result<Json<Reservation>, Error> {
    transition(db::commit(&state.db, id).await?)
}

/// Return a held or committed reservation's stock. Idempotent. An unknown
/// id is released too (200, no lines): a reserve with that id arriving
/// later is refused with 409.
#[utoipa::path(
    post, path = "/internal/v1/reservations/{id}/release", tag = "internal", operation_id = "release_reservation",
    params(("id" = Uuid, Path, description = "Reservation id")),
    security(("service" = [])),
    responses(
        (status = 200, description = "Released now or before. An id never reserved is recorded as released, so a reserve still on its way is refused", body = Reservation),
        (status = 400, description = "The id is not a UUID"),
    )
)]
pub async fn release(
    State(state): State<AppState>,
    _service: Service,
    Path(id): Path<Uuid>,
) -> Result<Json<Reservation>, Error> {
    transition(db::release(&state.db, id).await?)
}

/* Every collection of /api/v1/, in the order of the store's tables: a new
 * collection is its table of fields, its hooks, and one line here (at the
 * end: a table's position is its number in the store). */
#include "res_internal.h"

const struct idl_resource *const idl_resources[] = {
    &idl_customers,
    &idl_orders,
    &idl_products,
    &idl_feedback,
    &idl_tickets,
    &idl_bridges,
    &idl_conflicts,
};

const size_t idl_n_resources = sizeof(idl_resources) / sizeof(idl_resources[0]);

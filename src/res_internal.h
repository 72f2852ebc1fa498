/* The collections and what they offer one another (customers for orders'
 * upserts and the single customer view). */
#ifndef IDLINK_RES_INTERNAL_H
#define IDLINK_RES_INTERNAL_H

#include <string.h>

#include "record_internal.h"

enum customer_field {
  CUSTOMER_PK,
  CUSTOMER_CHANNEL,
  CUSTOMER_EMAIL,
  CUSTOMER_FIRST_NAME,
  CUSTOMER_LAST_NAME,
  CUSTOMER_PHONE,
  CUSTOMER_IS_ACTIVE,
  CUSTOMER_CHANNEL_CODE,
  CUSTOMER_ERP_CODE,
  CUSTOMER_EXTRA_FIELD,
  CUSTOMER_MODIFIED,
  CUSTOMER_CREATED,
  CUSTOMER_DATE_JOINED,
  CUSTOMER_EMAIL_ALLOWED,
  CUSTOMER_SMS_ALLOWED,
  CUSTOMER_CALL_ALLOWED,
  CUSTOMER_GENDER,
  CUSTOMER_ATTRIBUTES,
  CUSTOMER_USER_TYPE,
  CUSTOMER_DATE_OF_BIRTH,
  CUSTOMER_ATTRIBUTES_KWARGS,
  CUSTOMER_LOCALIZED,
  CUSTOMER_LOCALIZED_KWARGS,
  CUSTOMER_IDENTITY,
  CUSTOMER_CONTACT, /* hidden: past the API's fields */
};

enum order_field {
  ORDER_PK,
  ORDER_CHANNEL,
  ORDER_NUMBER,
  ORDER_AMOUNT,
  ORDER_CURRENCY,
  ORDER_CREATED,
  ORDER_MODIFIED,
  ORDER_CUSTOMER,
  ORDER_IDENTITY,
  ORDER_EMAIL, /* hidden: past the API's fields */
};

extern const struct idl_resource idl_customers;
extern const struct idl_resource idl_orders;
extern const struct idl_resource idl_products;
extern const struct idl_resource idl_feedback;
extern const struct idl_resource idl_tickets;
extern const struct idl_resource idl_bridges;
extern const struct idl_resource idl_conflicts;

/* The customer of channel with channel_code code, other than except (0 when
 * none). */
enum idl_err idl_customer_find_code(struct idl_txn *txn, int64_t channel, const char *code,
                                    uint64_t except, uint64_t *pk);

/* Reconciles the customer's email and phone as POST /identify would. */
enum idl_err idl_customer_reconcile(struct idl_txn *txn, const struct idl_record *rec);

/* Adds the pks of the customers whose email or phone belongs to the
 * identity of contact (any contact of it); pks ends sorted, without repeats. */
enum idl_err idl_customers_of_identity(struct idl_txn *txn, uint64_t contact,
                                       struct idl_ids *pks);

/* Adds the pks of the customers whose email (or phone) is value. */
enum idl_err idl_customers_holding(struct idl_txn *txn, enum idl_index which, const char *value,
                                   struct idl_ids *pks);

/* Adds the pks of the orders of customer. */
enum idl_err idl_orders_of_customer(struct idl_txn *txn, uint64_t customer,
                                    struct idl_ids *pks);

/* The oldest product named name and purchased on day purchased (days since
 * 1970-01-01); 0 when none: an import's product is this pair. */
enum idl_err idl_product_find(struct idl_txn *txn, const char *name, int64_t purchased,
                              uint64_t *pk);

#endif

/** The {@code round-weights} transform: float weights rounded to a number of significant bits. */
package com.example.refinery.roundweights;

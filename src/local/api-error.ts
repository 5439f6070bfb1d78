/**
 * An error the SageMaker API answers with. `code` is the shape name the service sends (botocore
 * reads it from the body's `__type`, the JS SDK v3 from `X-Amzn-ErrorType`): `ResourceNotFound`,
 * not ...Exception, for the modelled errors; the unmodelled ones keep their Exception suffix.
 */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly httpStatus = 400,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export const validationError = (message: string): ApiError => new ApiError("ValidationException", message);
export const serializationError = (message: string): ApiError => new ApiError("SerializationException", message);
export const resourceNotFound = (message: string): ApiError => new ApiError("ResourceNotFound", message);
export const resourceInUse = (message: string): ApiError => new ApiError("ResourceInUse", message);
